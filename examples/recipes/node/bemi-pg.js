'use strict';
const { escapeIdentifier } = require('pg');
// bemi with node-postgres (pg): each request's writes run in one transaction that starts by
// setting the request's context with is_local => true, so the context ends with the
// transaction and never reaches the next user of a pooled connection (or of a PgBouncer
// server connection in transaction mode).

// Runs fn(client) inside BEGIN ... COMMIT on `client` with `context` (a plain object) as the
// application context of every change it makes; rolls back and rethrows if fn throws.
async function withBemiContext(client, context, fn) {
  await client.query('BEGIN');
  try {
    // A bound parameter, never string concatenation: any value (quotes, `*/`, `%`) is data.
    await client.query('SELECT bemi_set_context($1::jsonb, true)', [JSON.stringify(context)]);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

// The same on a client checked out of `pool` for the request; a client whose transaction
// failed is discarded rather than returned, since its state is unknown.
async function withBemiRequest(pool, context, fn) {
  const client = await pool.connect();
  let failure;
  try {
    return await withBemiContext(client, context, fn);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    client.release(failure);
  }
}

// Reading the trail back. `db` is a pg Pool or Client.

// One record's changes in commit order, each with its diff {"column": [old, new]}.
async function history(db, table, primaryKey) {
  const { rows } = await db.query(
    'SELECT operation, diff, context, committed_at FROM bemi.history($1::regclass, $2)',
    [table, String(primaryKey)],
  );
  return rows;
}

// The table's rows as they were at `instant` (a Date or timestamptz text); `table` is a name
// in the search_path, as its row type is spelled.
async function asOf(db, table, instant) {
  const { rows } = await db.query(
    `SELECT * FROM bemi.as_of(NULL::${escapeIdentifier(table)}, $1::timestamptz)`,
    [instant],
  );
  return rows;
}

// Every stored change whose context contains `context` (e.g. {request_id: ...}).
async function changesWithContext(db, context) {
  const { rows } = await db.query(
    `SELECT schema, "table", primary_key, operation, before, after, context, committed_at
       FROM bemi.changes WHERE context @> $1::jsonb
      ORDER BY capture, commit_position, seq`,
    [JSON.stringify(context)],
  );
  return rows;
}

module.exports = { withBemiContext, withBemiRequest, history, asOf, changesWithContext };
