-- Sandbox routes for the cohort report's failure specs: `iblai sandbox --script THIS`.
-- most-discussed-topics answers 500, and user-sentiment answers a shape the API never describes.
local sandbox = ...
local BASE = "/api/ai-analytics/orgs/{org}/users/{user_id}/"

sandbox.route(BASE .. "most-discussed-topics/", {
  GET = function() return sandbox.respond.json(500, { detail = "topics are being reindexed" }) end,
})

sandbox.route(BASE .. "user-sentiment/", {
  GET = function() return sandbox.respond.json(200, { "positive", "negative" }) end,
})
