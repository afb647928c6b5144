-- The reviewed allow-list of the sandbox contract spec: response violations Prism reports that
-- come from the OpenAPI description contradicting itself (or the service), not from the sandbox.
-- Each entry: op (operationId), where (location under "response", list indexes as []), message
-- and body (Lua patterns of Prism's message and of the answer's text) and the reason.
local M = {}

M.entries = {
  { op = "core_platform_users_retrieve", where = "body.next_page", message = "must be integer$",
    body = '"next_page":null',
    reason = "The schema requires next_page as a non-null integer, yet the last page has no next page; "
      .. "the sandbox sends null there, as the service's paginator does, and the pager stops on it." },
  { op = "core_platform_users_retrieve", where = "body.previous_page", message = "must be integer$",
    body = '"previous_page":null',
    reason = "Likewise previous_page on the first page, which has no previous page." },
  { op = "ai_mentor_orgs_users_downloads_tasks_retrieve", where = "body", message = "must have required property",
    body = '^{"state":"task_not_ready"}$',
    reason = 'The spec\'s own example for a poll before the export is ready is {"state": "task_not_ready"}, '
      .. "which its schema for that answer (one ChatHistoryItem) does not allow." },
  { op = "ai_mentor_orgs_users_downloads_tasks_retrieve", where = "body", message = "must be object$",
    body = "^%[",
    reason = "The schema describes one message of the history (ChatHistoryItem), while the ready download is "
      .. "the whole history: a list of such items, which is what the export workflow reads." },
  { op = "ai_mentor_orgs_users_downloads_tasks_retrieve", where = "", message = 'media type "text/csv"',
    body = "^type,content,timestamp,session_id\n",
    reason = "to_csv=true answers text/csv, as the service does; the spec declares only JSON for this answer." },
  { op = "ai_mentor_orgs_users_downloads_tasks_retrieve", where = "body", message = "must be object$",
    body = "^type,content,timestamp,session_id\n",
    reason = "The same CSV answer, which Prism then also checks against the JSON schema." },
}

--- The entry that allows this violation, or nil.
function M.find(op, where, message, body)
  for _, e in ipairs(M.entries) do
    if e.op == op and e.where == where and message:find(e.message) and body:find(e.body) then return e end
  end
end

return M
