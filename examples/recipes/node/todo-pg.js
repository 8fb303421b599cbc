'use strict';
// The todo app's data access on node-postgres. Each function takes the request's client, so a
// handler runs any number of them inside one withBemiRequest (see README.md):
//
//   await withBemiRequest(pool, { user_id: 187234, endpoint: '/todo', method: 'POST' },
//     (client) => todos.create(client, ['Sleep', 'Eat']));

// Several todos in one INSERT; returns their ids in the given order.
async function create(client, tasks) {
  const { rows } = await client.query(
    'INSERT INTO todo (task) SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n RETURNING id',
    [tasks],
  );
  return rows.map((r) => r.id);
}

async function complete(client, ids) {
  const { rowCount } = await client.query('UPDATE todo SET is_completed = true WHERE id = ANY($1::int[])', [ids]);
  return rowCount;
}

async function remove(client, id) {
  const { rowCount } = await client.query('DELETE FROM todo WHERE id = $1', [id]);
  return rowCount;
}

module.exports = { create, complete, remove };
