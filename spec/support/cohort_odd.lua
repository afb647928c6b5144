-- Sandbox routes for the cohort report's specs of odd answers: `iblai sandbox --script THIS`.
-- Every analytics endpoint the report calls answers by the org in its path, whatever the dates:
--   odd      figures no count can be: 1e300, "NaN", negatives, 1e400, null, rows of 2^62;
--   quiet    zeros, and conversation counts of -2 and 2 that add up to nothing;
--   strings  names made of markup, formulas, NUL markers and long UTF-8, and an error whose
--            text is markup;
--   broken   as quiet, but every transcripts call fails;
--   shapeless, dateless: as quiet, but the transcripts are an object, or the same whatever the dates.
-- The bodies are JSON text as written here, so numbers reach the client exactly so.
local sandbox = ...
local BASE = "/api/ai-analytics/orgs/{org}/users/{user_id}/"
local civil = require "iblai.civil"

local function day(req, plus)
  local y, m, d = (req.query.start_date or "2026-10-01"):match("^(%d+)%-(%d+)%-(%d+)")
  y, m, d = civil.date(civil.day(tonumber(y), tonumber(m), tonumber(d)) + (plus or 0))
  return ("%04d-%02d-%02d"):format(y, m, d)
end

local function raw(status, text)
  return { status = status, body = text, headers = { ["Content-Type"] = "application/json" } }
end

local BIG = "4611686018427387904" -- 2^62: two of them overflow a 64-bit integer

local HOSTILE = {
  'C | C++ `code` <script>alert(1)</script>\n# not a heading',
  '=HYPERLINK("http://evil.example","x")',
  "+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", 'a,b "quoted"',
  "日本語のトピック名はとても長いですね本当に長い名前です",
  ("😀"):rep(24),
  "**bold** _it_ [link](http://evil.example) &amp; www.evil.example",
  "\0iblai:[]",
}

local json_string = require("iblai.json").encode

local answers = {
  odd = {
    ["user-cohorts-over-time/"] = function(req)
      return ('{"periods":["%sT00:00:00Z","%sT00:00:00Z","%sT00:00:00Z","%sT00:00:00Z"],'
        .. '"new_users":[1e300,"NaN",-4,%s],"veteran_users":[%s,%s,1,0]}'):format(
        day(req), day(req, 1), day(req, 2), day(req, 3), BIG, BIG, BIG)
    end,
    ["conversation/"] = function(req)
      return ('[{"date":"%s","conversation_count":-5},{"date":"%s","conversation_count":5},'
        .. '{"date":"%s","conversation_count":null}]'):format(day(req), day(req, 1), day(req, 2))
    end,
    ["usage-summary/"] = function(req)
      return ('[{"date":"%s","user_count":"12"},{"date":"%s","user_count":1e400},{"date":"%s","user_count":3}]')
        :format(day(req), day(req, 1), day(req, 2))
    end,
    ["most-discussed-topics/"] = function()
      return '[{"topic_name":"Algebra","conversation_count":1e300},{"topic_name":"Biology","conversation_count":2}]'
    end,
    ["user-sentiment/"] = function()
      return '{"sentiment_distribution":{"positive":-1,"neutral":"x","negative":3},"total_sentiments":1e300}'
    end,
    ["overview-summary/"] = function()
      return '{"conversation_volume":{"total":1e300,"change":"NaN"},"users":{"total":-1,"change":1e300},'
        .. '"topics":{"total":1,"change":0},"user_rating":{"total":1,"change":0}}'
    end,
    ["user-metrics/"] = function()
      return '{"registered_users":{"total":3,"change_percentage":0},"new_users":{"total":1,"change_percentage":0},'
        .. '"unique_users":{"total":2,"change_percentage":0},"veteran_users":{"total":1,"change_percentage":0}}'
    end,
    ["average-messages-per-session/"] = function(req)
      return ('[{"time":"%sT00:00:00Z","avg_messages":1e300,"total_sessions":1e300},'
        .. '{"time":"%sT00:00:00Z","avg_messages":4,"total_sessions":2}]'):format(day(req), day(req, 1))
    end,
    ["registered-users-trend/"] = function(req)
      return ('[{"interval":"%sT00:00:00Z","count":%s},{"interval":"%sT00:00:00Z","count":%s}]'):format(
        day(req), BIG, day(req, 1), BIG)
    end,
    ["transcripts/"] = function(req)
      local row = '{"id":"c%d","user_id":"ada","topics":[{"name":"Algebra"}],"message_count":-7,'
        .. '"user_sentiment":"positive","inserted_at":"%sT10:00:00Z","model":"m","first_message":"hi"}'
      return "[" .. row:format(1, day(req)) .. "," .. row:format(2, req.query.end_date) .. "]"
    end,
  },
  quiet = {
    ["user-cohorts-over-time/"] = function(req)
      return ('{"periods":["%sT00:00:00Z"],"new_users":[0],"veteran_users":[0]}'):format(day(req))
    end,
    ["conversation/"] = function(req)
      return ('[{"date":"%s","conversation_count":-2},{"date":"%s","conversation_count":2}]'):format(
        day(req), day(req, 1))
    end,
    ["usage-summary/"] = function() return "[]" end,
    ["most-discussed-topics/"] = function() return "[]" end,
    ["user-sentiment/"] = function() return '{"sentiment_distribution":{},"total_sentiments":0}' end,
    ["overview-summary/"] = function()
      return '{"conversation_volume":{"total":0,"change":0},"users":{"total":0,"change":0},'
        .. '"topics":{"total":0,"change":0},"user_rating":{"total":0,"change":0}}'
    end,
    ["user-metrics/"] = function()
      return '{"registered_users":{"total":0,"change_percentage":0},"new_users":{"total":0,"change_percentage":0},'
        .. '"unique_users":{"total":0,"change_percentage":0},"veteran_users":{"total":0,"change_percentage":0}}'
    end,
    ["average-messages-per-session/"] = function() return "[]" end,
    ["registered-users-trend/"] = function() return "[]" end,
    ["transcripts/"] = function() return "[]" end,
  },
  strings = {
    ["most-discussed-topics/"] = function()
      local rows = {}
      for i, name in ipairs(HOSTILE) do
        rows[i] = ('{"topic_name":%s,"conversation_count":%d}'):format(json_string(name), 100 - i)
      end
      return "[" .. table.concat(rows, ",") .. "]"
    end,
    ["transcripts/"] = function(req)
      local rows = {}
      for i, name in ipairs(HOSTILE) do
        rows[i] = ('{"id":"c%d","user_id":"u%d","topics":[{"name":%s}],"message_count":3,"user_sentiment":%s,'
          .. '"inserted_at":"%sT10:00:00Z","model":"m","first_message":"hi"}'):format(i, i, json_string(name),
          json_string(i % 2 == 0 and "positive" or "<b>odd</b>|x"), day(req))
      end
      return "[" .. table.concat(rows, ",") .. "]"
    end,
    ["user-sentiment/"] = function()
      return raw(500, '{"detail":"| broken `table` <img src=x onerror=alert(1)>\\n# heading\\n=1+1"}')
    end,
    ["user-cohorts-over-time/"] = function(req)
      return ('{"periods":["%sT00:00:00Z"],"new_users":[1],"veteran_users":[2]}'):format(day(req))
    end,
    ["conversation/"] = function(req) return ('[{"date":"%s","conversation_count":12}]'):format(day(req)) end,
    ["usage-summary/"] = function(req) return ('[{"date":"%s","user_count":3}]'):format(day(req)) end,
    ["overview-summary/"] = function()
      return '{"conversation_volume":{"total":12,"change":0},"users":{"total":3,"change":0},'
        .. '"topics":{"total":12,"change":0},"user_rating":{"total":0,"change":0}}'
    end,
    ["user-metrics/"] = function()
      return '{"registered_users":{"total":3,"change_percentage":0},"new_users":{"total":1,"change_percentage":0},'
        .. '"unique_users":{"total":3,"change_percentage":0},"veteran_users":{"total":2,"change_percentage":0}}'
    end,
    ["average-messages-per-session/"] = function(req)
      return ('[{"time":"%sT00:00:00Z","avg_messages":3,"total_sessions":12}]'):format(day(req))
    end,
    ["registered-users-trend/"] = function(req) return ('[{"interval":"%s","count":1}]'):format(day(req)) end,
  },
}

-- broken: the org of quiet, but every transcripts call fails.
answers.broken = {}
for path, fn in pairs(answers.quiet) do answers.broken[path] = fn end
answers.broken["transcripts/"] = function() return raw(500, '{"detail":"transcripts are offline"}') end

-- shapeless: transcripts answer an object; dateless: they answer the same conversations whatever
-- days are asked for (a server that ignores start_date and end_date).
answers.shapeless, answers.dateless = {}, {}
for path, fn in pairs(answers.quiet) do answers.shapeless[path], answers.dateless[path] = fn, fn end
answers.shapeless["transcripts/"] = function() return '{"results":[]}' end
answers.dateless["transcripts/"] = function()
  local rows = {}
  for i, date in ipairs { "2026-09-20", "2026-09-29", "2026-10-02", "2026-10-02", "2026-10-06" } do
    rows[i] = ('{"id":"d%d","user_id":"u%d","topics":[{"name":"Algebra"}],"message_count":2,'
      .. '"user_sentiment":"neutral","inserted_at":"%sT09:00:00Z","model":"m","first_message":"hi"}'):format(i, i % 3,
      date)
  end
  return "[" .. table.concat(rows, ",") .. "]"
end

local paths = {}
for _, by_path in pairs(answers) do
  for path in pairs(by_path) do paths[path] = true end
end
for path in pairs(paths) do
  sandbox.route(BASE .. path, {
    GET = function(req, p)
      local fn = answers[p.org] and answers[p.org][path]
      if not fn then return sandbox.respond.json(404, { detail = "Not found." }) end
      local answer = fn(req)
      if type(answer) == "table" then return answer end
      return raw(200, answer)
    end,
  })
end
