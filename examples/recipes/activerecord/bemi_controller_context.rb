# frozen_string_literal: true

# Rails: include in ApplicationController, and every action runs in one transaction whose
# changes carry its request's context (Bemi.with_context, bemi.rb).
#
#   class ApplicationController < ActionController::Base
#     include BemiControllerContext
#   end
require 'active_support/concern'
require_relative 'bemi'

module BemiControllerContext
  extend ActiveSupport::Concern

  included do
    around_action :with_bemi_context
  end

  private

  def with_bemi_context(&action)
    Bemi.with_context(bemi_context, &action)
  end

  # What each change of the request records; a controller may extend it (super.merge(...)).
  def bemi_context
    user = respond_to?(:current_user, true) ? current_user : nil
    { request_id: request.request_id, user_id: user&.id, endpoint: request.path, method: request.method }.compact
  end
end
