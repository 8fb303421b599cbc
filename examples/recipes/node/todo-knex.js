'use strict';
// The todo app's data access on Knex. Each function takes the request's transaction, so a
// handler runs any number of them inside one bemiTransaction (see README.md):
//
//   await bemiTransaction(knex, { user_id: 187234, endpoint: '/todo', method: 'POST' },
//     (trx) => todos.create(trx, ['Sleep', 'Eat']));

// Several todos in one INSERT; returns their ids in the given order.
async function create(trx, tasks) {
  const rows = await trx('todo').insert(tasks.map((task) => ({ task })), ['id']);
  return rows.map((r) => r.id);
}

function complete(trx, ids) {
  return trx('todo').whereIn('id', ids).update({ is_completed: true });
}

function remove(trx, id) {
  return trx('todo').where({ id }).del();
}

module.exports = { create, complete, remove };
