# frozen_string_literal: true

# Drives the ActiveRecord recipe (examples/recipes/activerecord) through the todo scenario of
# test/lib/recipe_todo.sh: requests A and B go through the example's Rails controller (its
# around_action), the concurrent ones through Bemi.with_context in threads over AR's pool. The
# shell test asserts what lands in bemi.changes and compares what this prints.
require 'json'
require 'set'
require 'time'
require 'rack/mock'
require_relative '../../examples/recipes/activerecord/todos_controller'

ctx_a = JSON.parse(ENV.fetch('RECIPE_CTX_A'))
ctx_b = JSON.parse(ENV.fetch('RECIPE_CTX_B'))
workers = Integer(ENV.fetch('RECIPE_WORKERS'))
requests = Integer(ENV.fetch('RECIPE_REQUESTS'))
pool_size = Integer(ENV.fetch('RECIPE_POOL'))

# Host, port and user come from libpq's PG* variables. Behind PgBouncer in transaction mode a
# named prepared statement may land on another server connection: Rails' advice is to turn
# them off there.
ActiveRecord::Base.establish_connection(
  adapter: 'postgresql', database: ENV.fetch('PGDATABASE'), pool: pool_size,
  prepared_statements: ENV['RECIPE_BEHIND_POOLER'] != '1'
)

User = Struct.new(:id)

# The example's controller with a stand-in for authentication, and the scenario's extra
# context key, as an application would extend bemi_context.
class TestTodosController < TodosController
  private

  def current_user
    id = request.headers['X-User-Id']
    id && User.new(Integer(id))
  end

  def bemi_context
    super.merge(note: params[:note])
  end
end

# One HTTP request made from `ctx`: its path, method, user, request id and note.
def dispatch(action, ctx, params)
  env = Rack::MockRequest.env_for(
    ctx.fetch('endpoint'), method: ctx.fetch('method'), params: params.merge(note: ctx.fetch('note')),
    'HTTP_X_USER_ID' => ctx.fetch('user_id').to_s, 'action_dispatch.request_id' => ctx.fetch('request_id')
  )
  status, _headers, body = TestTodosController.action(action).call(env)
  text = +''
  body.each { |part| text << part }
  body.close if body.respond_to?(:close)
  raise "#{action}: HTTP #{status}: #{text}" unless status == 200

  JSON.parse(text)
end

conn = ActiveRecord::Base.connection
backend_pid = -> { ActiveRecord::Base.connection.select_value('SELECT pg_backend_pid()') }

# Two requests and a context-free transaction, one after the other on this thread's connection.
ids = dispatch(:create, ctx_a, tasks: %w[Sleep Eat Repeat])
instant = conn.select_value('SELECT clock_timestamp()::text')
result = dispatch(:batch, ctx_b, complete: ids[0, 2], delete: [ids[2]])
raise "batch: #{result}" unless result == { 'completed' => 2, 'deleted' => 1 }

pid_b = backend_pid.call
pid_later = Todo.transaction do
  Todo.create!(task: 'Unattributed')
  backend_pid.call
end
puts "leak check connection: #{pid_b == pid_later ? 'same' : 'different'}"

# Inside an open transaction with_context joins it, and its context holds to that
# transaction's end (as the README says), not beyond.
Todo.transaction do
  Bemi.with_context({ joined: true }) { raise 'with_context left the open transaction' if conn.open_transactions != 1 }
  held = conn.select_value('SELECT bemi_get_context()')
  raise "context after the block: #{held}" unless JSON.parse(held) == { 'joined' => true }

  raise ActiveRecord::Rollback
end
held = conn.select_value('SELECT bemi_get_context()')
raise "context after the transaction: #{held}" unless JSON.parse(held) == {}
ActiveRecord::Base.connection_pool.release_connection

# Concurrent requests over a pool smaller than their number; every third sets no context.
server_pids = Set.new
lock = Mutex.new
threads = Array.new(workers) do |w|
  Thread.new do
    requests.times do |i|
      task = "c#{w}-#{i}"
      ActiveRecord::Base.connection_pool.with_connection do
        body = lambda do
          todo = Todo.create!(task: task)
          pid = backend_pid.call
          lock.synchronize { server_pids << pid }
          todo.update!(is_completed: true)
        end
        if i % 3 == 2
          Todo.transaction(&body)
        else
          Bemi.with_context({ request_id: task, worker: w }, &body)
        end
      end
    end
  end
end
threads.each(&:join)
puts "client connections: #{ActiveRecord::Base.connection_pool.connections.size}"
puts "server connections: #{server_pids.size}"

# Reading back, once everything committed is stored.
ActiveRecord::Base.connection.select_value('SELECT bemi.sync()')
past = Bemi.as_of(Todo, instant).sort_by(&:id)
raise 'as_of returned records that could be saved' unless past.all?(&:readonly?)
# The same instant as a Time (microseconds kept) gives the same rows.
same = Bemi.as_of(Todo, Time.parse(instant)).sort_by(&:id)
raise "as_of(Time) differs: #{same.map(&:attributes)}" unless same.map(&:attributes) == past.map(&:attributes)
puts "as_of between the requests: #{past.map { |t| "#{t.id} #{t.task} #{t.is_completed}" }.join(', ')}"
[ids[0], ids[2]].each do |id|
  entries = Bemi.history(Todo, id).map do |c|
    "#{c['operation']} #{c['context']['request_id']} #{(c['diff'] || {}).keys.sort.join(' ')}"
  end
  puts "history #{id}: #{entries.join(', ')}"
end
of_b = Bemi.changes_with_context({ request_id: ctx_b.fetch('request_id') })
puts "changes of #{ctx_b.fetch('request_id')}: #{of_b.map { |c| "#{c['operation']} #{c['primary_key']}" }.join(', ')}"
