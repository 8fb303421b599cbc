'use strict';
// Drives the Node recipes (examples/recipes/node) through the todo scenario of
// test/lib/recipe_todo.sh with `pg` or `knex` (argv[2]); the shell test asserts what lands in
// bemi.changes and compares what this prints.
const path = require('path');
const { createRequire } = require('module');

// RECIPE_NODE_DIR: a copy of examples/recipes/node with its node_modules (npm ci).
const recipeDir = process.env.RECIPE_NODE_DIR || path.join(__dirname, '../../examples/recipes/node');
const requireRecipe = createRequire(path.join(recipeDir, 'package.json'));
const { Pool } = requireRecipe('pg');
const Knex = requireRecipe('knex');
const bemiPg = requireRecipe('./bemi-pg.js');
const bemiKnex = requireRecipe('./bemi-knex.js');
const todosPg = requireRecipe('./todo-pg.js');
const todosKnex = requireRecipe('./todo-knex.js');

const env = process.env;
const ctxA = JSON.parse(env.RECIPE_CTX_A);
const ctxB = JSON.parse(env.RECIPE_CTX_B);
const workers = Number(env.RECIPE_WORKERS);
const requests = Number(env.RECIPE_REQUESTS);
const poolSize = Number(env.RECIPE_POOL);

// One ORM's way of running a request with a context, one without, a plain query, its todo
// functions and its reading helpers, so that the scenario below is written once.
function pgDriver(max) {
  const pool = new Pool({ max });
  const withoutContext = async (fn) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } finally {
      client.release();
    }
  };
  return {
    request: (ctx, fn) => bemiPg.withBemiRequest(pool, ctx, fn),
    withoutContext,
    value: async (db, sql) => (await db.query(sql)).rows[0].v,
    todos: todosPg,
    history: (table, key) => bemiPg.history(pool, table, key),
    asOf: (table, instant) => bemiPg.asOf(pool, table, instant),
    changesWithContext: (ctx) => bemiPg.changesWithContext(pool, ctx),
    root: pool,
    clientConnections: () => pool.totalCount,
    end: () => pool.end(),
  };
}

function knexDriver(max) {
  const knex = Knex({ client: 'pg', connection: {}, pool: { min: 0, max } });
  return {
    request: (ctx, fn) => bemiKnex.bemiTransaction(knex, ctx, fn),
    withoutContext: (fn) => knex.transaction(fn),
    value: async (db, sql) => (await db.raw(sql)).rows[0].v,
    todos: todosKnex,
    history: (table, key) => bemiKnex.history(knex, table, key),
    asOf: (table, instant) => bemiKnex.asOf(knex, table, instant),
    changesWithContext: (ctx) => bemiKnex.changesWithContext(knex, ctx),
    root: knex,
    clientConnections: () => knex.client.pool.numUsed() + knex.client.pool.numFree(),
    end: () => knex.destroy(),
  };
}

const drivers = { pg: pgDriver, knex: knexDriver };

async function main() {
  const make = drivers[process.argv[2]];
  if (!make) throw new Error(`usage: node node_todo.js pg|knex`);

  // Two requests and a context-free transaction, one after the other on one pooled connection.
  const one = make(1);
  const pid = (db) => one.value(db, 'SELECT pg_backend_pid() AS v');
  let pidB;
  const ids = await one.request(ctxA, (db) => one.todos.create(db, ['Sleep', 'Eat', 'Repeat']));
  const instant = await one.value(one.root, 'SELECT clock_timestamp()::text AS v');
  await one.request(ctxB, async (db) => {
    pidB = await pid(db);
    if ((await one.todos.complete(db, [ids[0], ids[1]])) !== 2) throw new Error('complete: not 2 rows');
    if ((await one.todos.remove(db, ids[2])) !== 1) throw new Error('remove: not 1 row');
  });
  const pidLater = await one.withoutContext(async (db) => {
    await one.todos.create(db, ['Unattributed']);
    return pid(db);
  });
  console.log(`leak check connection: ${pidB === pidLater ? 'same' : 'different'}`);

  // Concurrent requests over a pool smaller than their number; every third sets no context.
  const many = make(poolSize);
  const serverPids = new Set();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; i < requests; i++) {
      const task = `c${w}-${i}`;
      const body = async (db) => {
        const [id] = await many.todos.create(db, [task]);
        serverPids.add(await pid(db));
        await many.todos.complete(db, [id]);
      };
      if (i % 3 === 2) await many.withoutContext(body);
      else await many.request({ request_id: task, worker: w }, body);
    }
  }));
  console.log(`client connections: ${many.clientConnections()}`);
  console.log(`server connections: ${serverPids.size}`);
  await many.end();

  // Reading back, once everything committed is stored.
  await one.value(one.root, 'SELECT bemi.sync() AS v');
  const past = (await one.asOf('todo', instant)).sort((x, y) => x.id - y.id);
  console.log(`as_of between the requests: ${past.map((r) => `${r.id} ${r.task} ${r.is_completed}`).join(', ')}`);
  for (const id of [ids[0], ids[2]]) {
    const h = await one.history('todo', id);
    console.log(`history ${id}: ${h.map((c) => `${c.operation} ${c.context.request_id} ${Object.keys(c.diff || {}).sort().join(' ')}`).join(', ')}`);
  }
  const ofB = await one.changesWithContext({ request_id: ctxB.request_id });
  console.log(`changes of ${ctxB.request_id}: ${ofB.map((c) => `${c.operation} ${c.primary_key}`).join(', ')}`);
  await one.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
