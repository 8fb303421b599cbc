'use strict';
// bemi with Knex: the request's writes go through one knex.transaction that first sets the
// request's context with is_local => true, so it ends with the transaction and never reaches
// the next user of a pooled connection (or of a PgBouncer server connection in transaction
// mode).

// Runs fn(trx) in a Knex transaction whose changes all carry `context` (a plain object);
// Knex commits when fn resolves and rolls back when it throws.
function bemiTransaction(knex, context, fn) {
  return knex.transaction(async (trx) => {
    await trx.raw('SELECT bemi_set_context(?::jsonb, true)', [JSON.stringify(context)]);
    return fn(trx);
  });
}

// Reading the trail back.

// One record's changes in commit order, each with its diff {"column": [old, new]}.
async function history(knex, table, primaryKey) {
  const { rows } = await knex.raw(
    'SELECT operation, diff, context, committed_at FROM bemi.history(?::regclass, ?)',
    [table, String(primaryKey)],
  );
  return rows;
}

// The table's rows as they were at `instant` (a Date or timestamptz text).
async function asOf(knex, table, instant) {
  const { rows } = await knex.raw('SELECT * FROM bemi.as_of(NULL::??, ?::timestamptz)', [table, instant]);
  return rows;
}

// Every stored change whose context contains `context` (e.g. {request_id: ...}).
function changesWithContext(knex, context) {
  return knex.withSchema('bemi').from('changes')
    .select('schema', 'table', 'primary_key', 'operation', 'before', 'after', 'context', 'committed_at')
    .whereRaw('context @> ?::jsonb', [JSON.stringify(context)])
    .orderBy(['capture', 'commit_position', 'seq']);
}

module.exports = { bemiTransaction, history, asOf, changesWithContext };
