# frozen_string_literal: true

# bemi with ActiveRecord (6.1 and later): each request's writes run in one transaction that
# starts by setting the request's context with is_local => true, so the context ends with the
# transaction and never reaches the next user of a pooled connection (or of a PgBouncer
# server connection in transaction mode). Copy this file into app/lib or config/initializers.
require 'json'
require 'active_record'

module Bemi
  module_function

  # Runs the block in a transaction on `connection` whose changes all carry `context` (a
  # Hash). Inside a transaction that is already open it joins it: the context then holds from
  # here to that transaction's end.
  def with_context(context, connection: ActiveRecord::Base.connection)
    connection.transaction do
      # A bound parameter, never string interpolation: any value (quotes, `*/`, `%`) is data.
      # (In FROM, with no column: a void result column would make AR warn of an unknown type.)
      connection.exec_query('SELECT FROM bemi_set_context($1::jsonb, true)', 'Bemi', [json_bind(context)])
      yield
    end
  end

  # Reading the trail back.

  # One record's changes in commit order, each with its diff {"column" => [old, new]}; the
  # record may have been deleted since.
  def history(model, id)
    rows = model.connection.exec_query(
      'SELECT operation, diff, context, committed_at FROM bemi.history($1::regclass, $2)', 'Bemi',
      [text_bind(model.quoted_table_name), text_bind(id.to_s)]
    )
    rows.map { |r| decode(r, 'diff', 'context') }
  end

  # The model's rows as they were at `instant` (a Time, or timestamptz text), as read-only
  # records: saving one would write the past over the present.
  def as_of(model, instant)
    instant = instant.utc.iso8601(6) if instant.respond_to?(:iso8601)
    model.find_by_sql(["SELECT * FROM bemi.as_of(NULL::#{model.quoted_table_name}, ?::timestamptz)", instant])
         .each(&:readonly!)
  end

  # Every stored change whose context contains `context`, e.g. ({ request_id: '...' }).
  def changes_with_context(context, connection: ActiveRecord::Base.connection)
    rows = connection.exec_query(
      'SELECT schema, "table", primary_key, operation, before, after, context, committed_at
         FROM bemi.changes WHERE context @> $1::jsonb ORDER BY capture, commit_position, seq',
      'Bemi', [json_bind(context)]
    )
    rows.map { |r| decode(r, 'before', 'after', 'context') }
  end

  def json_bind(hash)
    text_bind(JSON.generate(hash))
  end

  def text_bind(value)
    ActiveRecord::Relation::QueryAttribute.new('value', value, ActiveRecord::Type::String.new)
  end

  # exec_query returns jsonb as its text.
  def decode(row, *json_columns)
    json_columns.each { |c| row[c] = row[c] && JSON.parse(row[c]) }
    row
  end
end
