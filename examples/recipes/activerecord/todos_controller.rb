# frozen_string_literal: true

# The todo app on ActiveRecord + ActionController, with bemi's context per request.
require 'action_controller'
require_relative 'bemi_controller_context'

class Todo < ActiveRecord::Base
  self.table_name = 'todo'
end

class TodosController < ActionController::API
  include BemiControllerContext

  # POST /todo  tasks[]=...
  def create
    ids = params.permit(tasks: [])[:tasks].map { |task| Todo.create!(task: task).id }
    render json: ids
  end

  # PATCH /todo/batch  complete[]=id... delete[]=id...
  def batch
    batch = params.permit(complete: [], delete: [])
    completed = Todo.where(id: batch[:complete]).update_all(is_completed: true)
    deleted = Todo.where(id: batch[:delete]).destroy_all.size
    render json: { completed: completed, deleted: deleted }
  end
end
