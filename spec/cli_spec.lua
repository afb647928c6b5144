-- The command line a new user meets: help everywhere, iblai ops, iblai call and the raw-path
-- commands (output, input, checks, options), completion, the man page, the example script.
local helpers = require "support.helpers"
local cli = require "support.cli"
local json = require "iblai.json"

local run, sh, pty = cli.run, cli.sh, cli.pty
local q = helpers.quote
local _

local function lines(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do list[#list + 1] = line end
  return list
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local COMMANDS = { "run", "call", "get", "post", "put", "patch", "delete", "ops", "sandbox", "memory-reset",
  "export-chats", "cohort-report", "help" }

describe("help", function()
  it("prints the usage on stderr and exits 2 without arguments, on stdout with help", function()
    local code, out, err = run {}
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^usage: iblai", err)
    for _, name in ipairs { "call", "get|post|put|patch|delete", "ops", "cohort-report", "IBLAI_BASE_URL" } do
      assert.matches(name, err, 1, true)
    end
    local helped
    code, helped = run { "help" }
    assert.equal(0, code)
    assert.equal(err, helped)
    assert.equal(helped, select(2, run { "--help" }))
    assert.equal(helped, select(2, run { "help", "--help" }))
  end)

  it("is there for every command as COMMAND --help and as help COMMAND, on stdout, exit 0", function()
    local listed = require("iblai.cli").names()
    assert.same(COMMANDS, listed)
    for _, name in ipairs(listed) do
      if name ~= "help" then
        local code, out, err = run { name, "--help" }
        assert.equal(0, code, name)
        assert.equal("", err, name)
        assert.matches("^Usage: iblai " .. name:gsub("%-", "%%-") .. " ", out, nil, name)
        local code2, out2 = run { "help", name }
        assert.equal(0, code2, name)
        assert.equal(out, out2, name)
      end
    end
  end)

  it("hands --help after a script's name to the script", function()
    local script = os.tmpname() .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write("print('script got', ...)\n")
    f:close()
    local code, out = run { "run", script, "--help" }
    os.remove(script)
    assert.equal(0, code)
    assert.equal("script got\t--help\n", out)
  end)

  it("names the closest command, or says how to call an operation, for an unknown one (exit 2)", function()
    local code, out, err = run { "cal" }
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^iblai: unknown command 'cal'; did you mean 'iblai call'%?", err)
    code, _, err = run { "core_platform_users_retrieve" }
    assert.equal(2, code)
    assert.matches("to call that operation: iblai call core_platform_users_retrieve", err, 1, true)
    code, _, err = run { "help", "nope" }
    assert.equal(2, code)
    assert.matches("unknown command 'nope'", err, 1, true)
    code, _, err = run { "--frobnicate" }
    assert.equal(2, code)
    assert.matches("unknown option '--frobnicate'", err, 1, true)
  end)

  it("gives a usage mistake in one line with where to look, exit 2", function()
    local code, out, err = run { "call" }
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^iblai call: [^\n]+%(iblai call %-%-help tells more%)\n$", err)
    code, _, err = run { "call", "core_platform_users_retrieve", "--timeout", "soon" }
    assert.equal(2, code)
    assert.matches("--timeout must be a number of seconds above 0, got 'soon'", err, 1, true)
    code, _, err = run { "get", "/x", "--retries", "200" }
    assert.equal(2, code)
    assert.matches("--retries must be a whole number from 0 to 100, got '200'", err, 1, true)
    code, _, err = run { "get", "/x", "--timeout", "-1" } -- a negative number is the option's value
    assert.equal(2, code)
    assert.matches("--timeout must be a number of seconds above 0, got '-1'", err, 1, true)
    -- what a dry run would print but the send would refuse is refused in both
    local env = { IBLAI_ORG = "main", IBLAI_USERNAME = "jane" }
    code, out, err = run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id=1", "id=2", "--dry-run" }, env)
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("'id' is given twice; it takes one value", err, 1, true)
    code, out, err = run({ "call", "core_platform_users_retrieve", "-H", "X: a\r\nEvil: 1", "--dry-run" }, env)
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("-H 'X' holds a line break or a NUL byte", err, 1, true)
    code, _, err = run({ "get", "", "--dry-run" }, env)
    assert.equal(2, code)
    assert.matches("the path is empty", err, 1, true)
  end)

  it("tells one default base URL: the client's, in --help, the usage and the README", function()
    local default = require("iblai.cli.args").DEFAULT_BASE_URL
    local client = require("iblai").new {}
    assert.equal(default, client.base_url)
    client:close()
    assert.matches(default, select(2, run { "call", "--help" }), 1, true)
    assert.matches(default, select(2, run { "help" }), 1, true)
    local readme = read(helpers.root .. "/README.md")
    assert.matches("IBLAI_BASE_URL` defaults to `" .. default, readme, 1, true)
    for url in readme:gmatch("https://api%.iblai%.app[%w/]*") do assert.equal(default, url) end
  end)

  it("says that {user_id} is a username, and takes --user for --username", function()
    for _, name in ipairs { "call", "get", "ops", "cohort-report" } do
      local _, out = run { name, "--help" }
      assert.matches("--username <username>, --user <username>", out:gsub("%s+", " "), 1, true)
    end
    assert.matches("usernames", select(2, run { "call", "--help" }))
    local code, out = run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id=3", "--user", "jane", "--dry-run" },
      { IBLAI_BASE_URL = "http://127.0.0.1:9", IBLAI_ORG = "main" })
    assert.equal(0, code)
    assert.matches("^GET http://127%.0%.0%.1:9/api/ai%-mentor/orgs/main/users/jane/artifacts/3/\n", out)
    code, out = run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id=3", "--username", "li", "--dry-run" },
      { IBLAI_BASE_URL = "http://127.0.0.1:9", IBLAI_ORG = "main" })
    assert.equal(0, code)
    assert.matches("/users/li/artifacts/3/", out, 1, true)
  end)
end)

describe("iblai ops", function()
  local env = { IBLAI_ORG = "acme", IBLAI_USERNAME = "jane" }

  it("matches every word, in any case, against ids and paths", function()
    local code, out = run { "ops", "EDX", "Memory" }
    assert.equal(0, code)
    local rows = lines(out)
    assert.is_true(#rows >= 3)
    for _, row in ipairs(rows) do
      local lower = row:lower()
      assert.truthy(lower:find("edx", 1, true) and lower:find("memory", 1, true), row)
    end
    assert.equal(out, select(2, run { "ops", "edx", "memory" }))
    local code2, _, err = run { "ops", "edx", "nothing-like-this" }
    assert.equal(1, code2)
    assert.matches("nothing matches 'edx nothing%-like%-this'", err)
  end)

  it("marks the listings and what the sandbox answers, in aligned columns", function()
    local _, out = run { "ops", "memory" }
    local at
    local seen = {}
    for _, row in ipairs(lines(out)) do
      local method, id = row:match("^(%u+)%s+(%S+)")
      local path_at = row:find(" /api/", 1, true)
      at = at or path_at
      assert.equal(at, path_at, row) -- the path column starts at the same place on every row
      seen[id] = row
      local op = require("iblai.ops").get(id)
      assert.equal(op.method, method)
      assert.equal(op.envelope ~= nil, row:find(" pages ", 1, true) ~= nil, row)
    end
    assert.matches(" pages  sandbox ", seen.ai_mentor_orgs_users_edx_memory_list, 1, true)
    -- the parameters a user gives, after the path ({org} and {user_id} come from the client)
    assert.matches("/edx%-memory/  course_id,ordering,page,page_size,student,username$",
      seen.ai_mentor_orgs_users_edx_memory_list)
    assert.matches("        sandbox ", seen.ai_mentor_orgs_users_edx_memory_destroy, 1, true)
    -- an operation the sandbox does not serve has no mark
    local _, any = run { "ops", "ai_mentor_orgs_mentors_email_inbox_list", "--json" }
    assert.is_false(json.decode(any).sandbox)
    local _, listed = run { "ops", "email-inbox" }
    for _, row in ipairs(lines(listed)) do assert.is_nil(row:find("sandbox", 1, true), row) end
  end)

  it("keeps the columns aligned when the ids are long", function()
    local _, out = run { "ops", "ai_mentor_orgs_users_" }
    local width
    for _, row in ipairs(lines(out)) do
      local id = row:match("^%u+%s+(%S+)")
      local after = row:find("/api/", 1, true)
      width = width or after
      assert.equal(width, after, id)
    end
  end)

  it("filters --pages and --sandbox, and shows {org} and {user_id} filled from the client", function()
    local _, out = run({ "ops", "--pages", "--sandbox" }, env)
    local rows = lines(out)
    assert.is_true(#rows > 3)
    for _, row in ipairs(rows) do
      assert.matches(" pages  sandbox  ", row, 1, true)
      assert.is_nil(row:find("{org}", 1, true))
      assert.is_nil(row:find("{user_id}", 1, true))
    end
    assert.truthy(out:find("/api/ai-mentor/orgs/acme/users/jane/edx-memory/", 1, true))
    local _, bare = run({ "ops", "edx-memory" }, { IBLAI_ORG = false, IBLAI_USERNAME = false })
    assert.truthy(bare:find("/api/ai-mentor/orgs/{org}/users/{user_id}/edx-memory/", 1, true))
    local _, flagged = run({ "ops", "edx-memory", "--org", "o2", "--user", "li" })
    assert.truthy(flagged:find("/orgs/o2/users/li/edx-memory/", 1, true))
  end)

  it("describes one operation: its parameters, that {user_id} is a username, an example", function()
    local code, out = run({ "ops", "ai_analytics_orgs_users_user_cohorts_over_time_retrieve" }, { IBLAI_ORG = "acme" })
    assert.equal(0, code)
    assert.matches("GET /api/ai%-analytics/orgs/acme/users/{user_id}/user%-cohorts%-over%-time/", out)
    assert.matches("path  user_id%s+string%s+required%s+a username, filled from IBLAI_USERNAME", out)
    assert.matches("query aggregation%s+string%s+one of daily|hourly|weekly", out)
    assert.matches("query start_date%s+string%s+required", out)
    assert.matches("e%.g%.  iblai call ai_analytics_orgs_users_user_cohorts_over_time_retrieve user_id=<username> "
      .. "end_date=<string> start_date=<string>", out)
  end)

  it("prints the facts as JSON", function()
    local nothing_code, nothing = run { "ops", "--json", "no-such-words-anywhere" }
    assert.equal(1, nothing_code)
    assert.equal("[]\n", nothing)
    local code, out = run { "ops", "--json", "edx", "memory" }
    assert.equal(0, code)
    local list = json.decode(out)
    assert.is_true(#list >= 3)
    local by = {}
    for _, op in ipairs(list) do by[op.id] = op end
    local listing = by.ai_mentor_orgs_users_edx_memory_list
    assert.equal("drf_page", listing.envelope)
    assert.is_true(listing.pages)
    assert.is_true(listing.sandbox)
    local user
    for _, p in ipairs(listing.params) do
      if p.name == "user_id" then user = p end
    end
    assert.same({ loc = "path", name = "user_id", required = true, type = "string", description = "a username" }, user)
    local one = json.decode(select(2, run { "ops", "--json", "core_platform_users_retrieve" }))
    assert.equal("core_platform_users_retrieve", one.id)
    assert.equal("next_page", one.envelope)
  end)

  it("prints a header on a terminal only", function()
    local code, out = pty { "ops", "edx", "memory" }
    assert.equal(0, code)
    assert.matches("^METHOD%s+OPERATION%s+PAGES%s+SANDBOX%s+PATH%s+PARAMETERS\n", out)
    assert.matches("operations; pages: iblai call OP %-%-paginate", out) -- stderr, on the same terminal
    assert.not_matches("METHOD", select(2, run { "ops", "edx", "memory" }))
  end)
end)

describe("iblai call and iblai get against the test server", function()
  local server, env

  setup(function()
    server = helpers.test_server()
    env = { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "VERY-SECRET", IBLAI_ORG = "main", IBLAI_USERNAME = "jane" }
  end)

  teardown(function()
    server.stop()
  end)

  local function hits(key)
    local _, out = run({ "get", "/hits", "key==" .. key }, env)
    return json.decode(out).hits
  end

  it("prints JSON with sorted keys: one line when piped, indented on a terminal", function()
    local code, out, err = run({ "get", "/ids" }, env)
    assert.equal(0, code)
    assert.equal("", err)
    assert.equal('{"count":3,"id":1,"items":[{"id":2},{"id":30000000000}],"ratio":0.5}\n', out)
    local tcode, shown = pty({ "get", "/ids" }, env)
    assert.equal(0, tcode)
    assert.equal([[
{
  "count": 3,
  "id": 1,
  "items": [
    {
      "id": 2
    },
    {
      "id": 30000000000
    }
  ],
  "ratio": 0.5
}
]], shown)
  end)

  it("writes strings as RFC 8259 wants", function()
    local text = 'a "quoted" \\ line\nwith a tab\tand \1 and é'
    local code, out = run({ "get", "/echo", "text==" .. text }, env)
    assert.equal(0, code)
    assert.matches([["query":{"text":"a \"quoted\" \\ line\nwith a tab\tand \u0001 and é"}]], out, 1, true)
    assert.equal(text, json.decode(out).query.text)
  end)

  it("sends name:=JSON typed, an empty list as [] and whole numbers as integers", function()
    local code, out = run({ "post", "/echo", "n:=7", "x:=2.5", "list:=[]", 'deep:={"a": [], "b": {}}', "s=7" }, env)
    assert.equal(0, code)
    local sent = json.decode(out).body
    assert.truthy(sent:find('"list":[]', 1, true), sent)
    assert.truthy(sent:find('"a":[]', 1, true), sent)
    assert.truthy(sent:find('"n":7', 1, true), sent)
    assert.truthy(sent:find('"s":"7"', 1, true), sent)
    assert.truthy(sent:find('"x":2.5', 1, true), sent)
  end)

  it("prints a text answer as it came, and exactly with --raw", function()
    local cases = {
      { { "get", "/text" }, "plain words\n" },
      { { "get", "/text", "--raw" }, "plain words" },
      { { "get", "/big", "n==5" }, '"xxxxx"\n' },
      { { "get", "/big", "n==5", "--raw" }, "xxxxx" },
      -- JSON as it came: no number rounded, no key reordered, {} kept
      { { "get", "/exact", "--raw" }, '{"z":12345678901234567890,"a":1e400,"empty":{}}' },
      { { "get", "/badjson", "--raw" }, '{"id": 1,' },
    }
    for _, case in ipairs(cases) do
      local code, out = run(case[1], env)
      assert.equal(0, code)
      assert.equal(case[2], out, table.concat(case[1], " "))
    end
  end)

  it("prints status and headers on stderr with --include, the body alone on stdout", function()
    local code, out, err = run({ "get", "/echo-header", "name==X-Thing", "value==42", "--include" }, env)
    assert.equal(0, code)
    assert.equal("{}\n", out:gsub("%[%]", "{}"))
    assert.matches("^HTTP 200\n", err)
    assert.matches("\nx%-thing: 42\n", err)
    code, out, err = run({ "get", "/detail", "code==403", "detail==No way.", "-i" }, env)
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^HTTP 403\n", err)
    assert.matches('\n{"detail":"No way."}\n', err, 1, true)
    assert.matches("iblai get: HTTP 403 Forbidden: No way%.", err)
  end)

  it("prints the request with --dry-run, the key masked, and sends nothing", function()
    local code, out, err = run({ "post", "/seq", "key==dry", "name=n", "count:=2", "-H", "X-Trace: 7", "--dry-run" }, env)
    assert.equal(0, code)
    assert.equal(([[
POST %s/seq?key=dry
Accept: application/json
Authorization: Api-Token [redacted]
Content-Type: application/json
X-Trace: 7

{"count":2,"name":"n"}
]]):format(server.url), out)
    assert.matches("dry run: nothing was sent", err)
    assert.is_nil((out .. err):find("VERY-SECRET", 1, true))
    assert.equal(0, hits("dry"))
    -- an operation: the URL with its path and query parameters, the same masking
    code, out = run({ "call", "ai_mentor_orgs_users_artifacts_list", "page_size=2", "ordering=-date_created",
      "--dry-run" }, env)
    assert.equal(0, code)
    assert.matches(("^GET %s/api/ai%%-mentor/orgs/main/users/jane/artifacts/%%?ordering=%%-date_created&page_size=2\n")
      :format(server.url:gsub("%p", "%%%0")), out)
    assert.is_nil(out:find("VERY-SECRET", 1, true))
  end)

  it("masks the key in the --verbose trace", function()
    local code, _, err = run({ "get", "/ids", "--verbose" }, env)
    assert.equal(0, code)
    assert.matches("Authorization: [redacted]", err, 1, true)
    assert.is_nil(err:find("VERY-SECRET", 1, true))
  end)

  it("announces each retry on stderr, and --retries sets how many", function()
    local code, out, err = run({ "get", "/seq", "key==r1", "codes==503,502,200", "retry_after==0" }, env)
    assert.equal(0, code)
    assert.matches('"hit":3', out)
    -- Retry-After: 0 still leaves the upper half of each attempt's backoff (0.5 s, then 1 s)
    local first, second = err:match("^iblai get: retrying in (%d%.%d) s after HTTP 503 %(1 of 4%)\n"
      .. "iblai get: retrying in (%d%.%d) s after HTTP 502 %(2 of 4%)\n$")
    assert.is_true(tonumber(first) >= 0.2 and tonumber(first) <= 0.5, err)
    assert.is_true(tonumber(second) >= 0.5 and tonumber(second) <= 1, err)
    code, out, err = run({ "get", "/seq", "key==r2", "codes==503,200", "--retries", "0" }, env)
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^iblai get: HTTP 503 Service Unavailable", err)
    assert.not_matches("retrying", err)
    code, _, err = run({ "get", "/seq", "key==r3", "codes==503,503,503", "retry_after==0", "--retries", "2" }, env)
    assert.equal(1, code)
    assert.matches("%(2 of 2%)\n", err)
    assert.matches("3 attempts", err)
  end)

  it("stops an attempt after --timeout seconds", function()
    local started = os.time()
    local code, out, err = run({ "get", "/delay", "s==5", "--timeout", "0.3", "--retries", "0" }, env)
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("timed out", err)
    assert.is_true(os.time() - started < 4)
  end)

  it("takes --body as JSON, @FILE and @-, merges name=value fields into it, and says what is wrong", function()
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write('{"from": "file", "n": 1}')
    f:close()
    local _, out = run({ "post", "/echo", "--body", "@" .. file, "n:=2" }, env)
    assert.same({ from = "file", n = 2 }, json.decode(json.decode(out).body))
    local code
    code, out = sh("echo '[1, 2]' | $IBLAI put /echo --body @-", env)
    assert.equal(0, code)
    assert.same({ 1, 2 }, json.decode(json.decode(out).body))
    local err
    code, out, err = sh("$IBLAI post /echo --body @- </dev/null", env)
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^iblai post: %-%-body @%- read nothing from standard input", err)
    code, _, err = run({ "post", "/echo", "--body", "{not json" }, env)
    assert.equal(2, code)
    assert.matches("--body is not valid JSON", err, 1, true)
    code, _, err = run({ "post", "/echo", "--body", "@" .. file .. ".missing" }, env)
    assert.equal(2, code)
    assert.matches("cannot read --body @", err, 1, true)
    code, _, err = run({ "post", "/echo", "n:=[1," }, env)
    assert.equal(2, code)
    assert.matches("n:= is not valid JSON", err, 1, true)
    os.remove(file)
  end)

  it("sends typed body fields with name:=JSON next to name=value", function()
    local code, out = run({ "call", "ai_mentor_orgs_metadata_create", "mentor_id:=7", 'metadata:={"tags": ["a"], "n": 1}',
      "mentor=m1" }, env)
    assert.equal(0, code)
    local sent = json.decode(out)
    assert.equal("POST", sent.method)
    assert.equal("/api/ai-mentor/orgs/main/metadata/", sent.path)
    assert.same({ mentor = "m1", mentor_id = 7, metadata = { tags = { "a" }, n = 1 } }, json.decode(sent.body))
  end)

  it("fills {org} and {user_id} in a raw path, and takes a URL under the base URL", function()
    local code, out = run({ "get", "/api/x/orgs/{org}/users/{user_id}/y/", "a==1" }, env)
    assert.equal(0, code)
    local sent = json.decode(out)
    assert.equal("/api/x/orgs/main/users/jane/y/", sent.path)
    assert.same({ a = "1" }, sent.query)
    code, out = run({ "delete", server.url .. "/api/z/" }, env)
    assert.equal(0, code)
    assert.equal("DELETE", json.decode(out).method)
    local err
    code, _, err = run({ "get", "http://elsewhere.example/api/z/" }, env)
    assert.equal(2, code)
    assert.matches("is not under the base URL", err, 1, true)
    code, _, err = run({ "get", "/api/{org}/" }, { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "k", IBLAI_ORG = false })
    assert.equal(2, code)
    assert.matches("the path holds {org}: set IBLAI_ORG or --org", err, 1, true)
  end)

  it("exits 130 when Ctrl-C stops a request", function()
    local code, _, err = sh("$IBLAI get /delay s==20 >/dev/null & pid=$!; sleep 0.5; kill -INT $pid; wait $pid", env)
    assert.equal(130, code)
    assert.matches("interrupted", err)
    assert.not_matches("traceback", err)
  end)

  it("refuses a remote base URL without a key before sending, and gives the /dm hint only for remote ones", function()
    -- a proxy that answers everything stands in for remote hosts; port 1 would refuse a request
    local code, out, err = run({ "call", "core_platform_users_retrieve" },
      { IBLAI_API_KEY = false, IBLAI_BASE_URL = false, https_proxy = "http://127.0.0.1:1", http_proxy = false })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("iblai call: IBLAI_API_KEY is not set: export IBLAI_API_KEY=<your key> to call "
      .. "https://api.iblai.app/dm (or try it on a local iblai sandbox); nothing was sent\n", err)
    code, _, err = run({ "get", "/api/nothing/" }, { IBLAI_API_KEY = "k", IBLAI_BASE_URL = "http://api.example.test",
      http_proxy = server.url })
    assert.equal(1, code)
    assert.matches("HTTP 404", err)
    local hint = "; IBLAI_BASE_URL is http://api.example.test: the public API is under /dm (the default is "
      .. "https://api.iblai.app/dm)\n"
    assert.equal(hint, err:sub(-#hint))
    code, _, err = run({ "get", "/api/nothing/x" }, { IBLAI_API_KEY = "k", IBLAI_BASE_URL = "http://api.example.test/dm",
      http_proxy = server.url })
    assert.equal(1, code)
    assert.not_matches("/dm", err:match("; .*$"))
    code, _, err = run({ "get", "/nothing" }, env)
    assert.equal(1, code)
    assert.not_matches("under /dm", err)
    -- the local sandbox takes any key, so none is needed there
    code = run({ "get", "/ids" }, { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = false })
    assert.equal(0, code)
  end)

  it("says in one line what is wrong with the base URL", function()
    local code, out, err = run({ "call", "core_platform_users_retrieve" }, { IBLAI_BASE_URL = "api.iblai.app/dm",
      IBLAI_API_KEY = "k" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^iblai call: the base URL %(IBLAI_BASE_URL or %-%-base%-url%) must be an absolute http:// or "
      .. "https:// URL, got 'api%.iblai%.app/dm' %(iblai call %-%-help tells more%)\n$", err)
    code, _, err = run({ "get", "/ids", "--retries", "0" }, { IBLAI_BASE_URL = "http://127.0.0.1:1", IBLAI_API_KEY = "k" })
    assert.equal(1, code)
    assert.matches("^iblai get: Couldn't connect[^\n]+check that IBLAI_BASE_URL %(or %-%-base%-url%) is right[^\n]+\n$",
      err)
    -- the advice speaks of what the command line has, not of the Lua API's fields
    code, _, err = run({ "call", "core_platform_users_retrieve" }, { IBLAI_BASE_URL = server.url,
      IBLAI_API_KEY = "k\n" })
    assert.equal(2, code)
    assert.matches("^iblai call: IBLAI_API_KEY must not hold CR, LF", err)
    code, _, err = run({ "get", "/fields", "n==2" }, { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "k" })
    assert.equal(1, code)
    assert.matches("f01: bad 1; f02: bad 2 %(GET [^\n]+%-i shows its whole answer\n$", err)
    assert.not_matches("err%.", err)
    -- with --raw too; and what the server said is quoted as it said it, never reworded
    code, _, err = run({ "get", "/fields", "n==2", "--raw" }, { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "k" })
    assert.equal(1, code)
    assert.matches("f01: bad 1; f02: bad 2 (GET", err, 1, true)
    code, _, err = run({ "get", "/nul" }, { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "k" })
    assert.equal(1, code)
    assert.matches("c: raise timeout err.body holds its start (GET", err, 1, true)
    code, _, err = run({ "get", "/detail", "code==418", "detail==x); raise timeout now" },
      { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "k" })
    assert.equal(1, code)
    assert.matches("x); raise timeout now (GET", err, 1, true) -- no advice of ours: nothing reworded
    -- a Host header is refused as a usage error
    code, _, err = run({ "get", "/echo", "-H", "host: elsewhere.example" }, { IBLAI_BASE_URL = server.url,
      IBLAI_API_KEY = "k" })
    assert.equal(2, code)
    assert.matches("^iblai get: %-H Host: the Host header comes from the URL", err)
  end)
end)

describe("iblai call against the sandbox", function()
  local sb, env

  setup(function()
    sb = helpers.sandbox("--users", "12")
    local _, out = run({ "call", "core_platform_users_retrieve", "page_size=1" }, { IBLAI_BASE_URL = sb.url,
      IBLAI_API_KEY = "k" })
    env = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k", IBLAI_ORG = "main",
      IBLAI_USERNAME = json.decode(out).results[1].username }
  end)

  teardown(function()
    sb.stop()
  end)

  it("reports every missing required parameter at once, each with its type, and sends nothing", function()
    local code, out, err = run({ "call", "ai_analytics_orgs_users_user_cohorts_over_time_retrieve", "aggregation=weekly" },
      { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k", IBLAI_ORG = false, IBLAI_USERNAME = false })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("iblai call: ai_analytics_orgs_users_user_cohorts_over_time_retrieve: missing 4 required parameters: "
      .. "org (string, path: or set IBLAI_ORG or --org), user_id (string, path: a username; or set IBLAI_USERNAME or "
      .. "--username), end_date (string, query), start_date (string, query)\n"
      .. "iblai call: nothing was sent; iblai ops ai_analytics_orgs_users_user_cohorts_over_time_retrieve shows its "
      .. "parameters\n", err)
    code, _, err = run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id:=[1]" }, env)
    assert.equal(2, code)
    assert.equal("iblai call: ai_mentor_orgs_users_artifacts_retrieve: id:= wants an integer, not a JSON object or list\n"
      .. "iblai call: nothing was sent; iblai ops ai_mentor_orgs_users_artifacts_retrieve shows its parameters\n", err)
    code, _, err = run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id:=1e400" }, env)
    assert.equal(2, code)
    assert.matches("id:= holds a number too large for JSON", err, 1, true)
    code, _, err = run({ "call", "ai_mentor_orgs_users_ai_user_profile_memory_create", "tga=x" }, env)
    assert.equal(2, code)
    assert.matches("unknown parameter 'tga'; did you mean 'tag'?", err, 1, true)
    assert.matches("missing 2 required parameters: detail (string, body), tag (string, body)", err, 1, true)
  end)

  it("suggests the operationId meant, whatever the typo", function()
    for typo, meant in pairs {
      ai_mentor_orgs_users_artifact_list = "ai_mentor_orgs_users_artifacts_list",
      AI_MENTOR_ORGS_USERS_ARTIFACTS_LIST = "ai_mentor_orgs_users_artifacts_list",
      ["core-platform-users-retrieve"] = "core_platform_users_retrieve",
    } do
      local code, out, err = run({ "call", typo }, env)
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches(("did you mean '%s'?"):format(meant), err, 1, true)
    end
    local code, _, err = run({ "call", "/api/core/platform/users/" }, env)
    assert.equal(2, code)
    assert.matches("that is a path: iblai get /api/core/platform/users/", err, 1, true)
  end)

  it("walks every page with --paginate, and prints them as one array with --slurp", function()
    local code, out = run({ "call", "core_platform_users_retrieve", "page_size=5", "--paginate", "--slurp" }, env)
    assert.equal(0, code)
    local all = json.decode(out)
    assert.equal(12, #all)
    assert.equal(1, #lines(out))
    code, out = run({ "call", "ai_mentor_orgs_users_edx_memory_list", "username=nobody-at-all", "--paginate",
      "--slurp" }, env)
    assert.equal(0, code)
    assert.equal("[]\n", out)
    local err
    code, _, err = run({ "call", "core_platform_users_retrieve", "--slurp" }, env)
    assert.equal(2, code)
    assert.matches("add --paginate", err, 1, true)
    code, _, err = run({ "call", "core_platform_users_retrieve", "--paginate", "--include" }, env)
    assert.equal(2, code)
    assert.matches("--verbose", err, 1, true)
  end)

  it("indents each item on a terminal with --paginate", function()
    local code, out = pty({ "call", "core_platform_users_retrieve", "page_size=5", "--paginate" }, env)
    assert.equal(0, code)
    local n = 0
    for _ in out:gmatch('\n  "username": ') do n = n + 1 end
    assert.equal(12, n)
  end)

  it("walks the pages of a raw path that is a listing", function()
    local code, out = run({ "get", "/api/core/platform/users/?page_size=5", "--paginate" }, env)
    assert.equal(0, code)
    assert.equal(12, #lines(out))
    code, out = run({ "get", "/api/ai-mentor/orgs/{org}/users/{user_id}/edx-memory/", "--paginate", "--slurp" }, env)
    assert.equal(0, code)
    local _, direct = run({ "call", "ai_mentor_orgs_users_edx_memory_list", "--paginate", "--slurp" }, env)
    assert.equal(direct, out)
    local err
    code, _, err = run({ "get", "/api/ai-mentor/orgs/{org}/users/{user_id}/edx-memory/1/", "--paginate" }, env)
    assert.equal(2, code)
    assert.matches("is not a listing the API describes", err, 1, true)
  end)

  it("prints the export's CSV as it came with --raw", function()
    local user = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k", IBLAI_ORG = "main", IBLAI_USERNAME = env.IBLAI_USERNAME }
    local code, out = run({ "call", "ai_mentor_orgs_users_export_chathistory_create" }, user)
    assert.equal(0, code)
    local task = json.decode(out).task_id
    local csv
    for _ = 1, 5 do
      code, out = run({ "call", "ai_mentor_orgs_users_downloads_tasks_retrieve", "task_id=" .. task, "to_csv=true",
        "--raw" }, user)
      assert.equal(0, code)
      if not out:find("task_not_ready", 1, true) then
        csv = out
        break
      end
    end
    assert.matches("^type,content,timestamp,session_id\n", csv)
    assert.is_nil(csv:find('^"'))
  end)

  it("prints an empty list as []", function()
    local code, out = run({ "call", "ai_mentor_orgs_users_edx_memory_list", "username=nobody-at-all" }, env)
    assert.equal(0, code)
    assert.matches('"results":[]', out, 1, true)
  end)

  it("says in one line what to run instead of --paginate on an operation without pages", function()
    local code, out, err = run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id=1", "--paginate" }, env)
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("iblai call: ai_mentor_orgs_users_artifacts_retrieve does not return pages (iblai ops --pages "
      .. "lists those that do); run it without --paginate\n", err)
  end)

  it("sends a 10 MB body, and says in one line that the server refused it", function()
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write('{"tag": "big", "detail": "', string.rep("x", 10 * 1024 * 1024), '"}')
    f:close()
    local code, out, err = run({ "call", "ai_mentor_orgs_users_ai_user_profile_memory_create", "--body", "@" .. file }, env)
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^iblai call: ai_mentor_orgs_users_ai_user_profile_memory_create: HTTP 413 [^\n]+too large[^\n]+\n$",
      err)
    code, out = run({ "call", "ai_mentor_orgs_users_ai_user_profile_memory_create", "--body", "@" .. file, "--dry-run" },
      env)
    assert.equal(0, code)
    assert.is_true(#out > 10 * 1024 * 1024)
    os.remove(file)
  end)
end)

describe("JSON on the command line", function()
  local output = require "iblai.cli.output"
  local jsontext = require "iblai.cli.jsontext"

  it("writes sorted keys, integers as integers, the fewest digits that read back, escapes per RFC 8259", function()
    local v = { b = 1, a = { 3.0, 0.1, 1 / 3, 1e300, -0.5, math.maxinteger }, c = "q\"\\\1\n\t/é", d = json.null,
      e = true, f = false, g = {}, h = json.empty_array, [1.5] = "odd key" }
    assert.equal('{"1.5":"odd key","a":[3,0.1,0.3333333333333333,1e+300,-0.5,9223372036854775807],'
      .. '"b":1,"c":"q\\"\\\\\\u0001\\n\\t/é","d":null,"e":true,"f":false,"g":[],"h":[]}', output.encode(v))
    assert.equal('{\n  "a": [\n    1,\n    []\n  ],\n  "b": {\n    "c": null\n  }\n}',
      output.encode({ a = { 1, {} }, b = { c = json.null } }, true))
    for _, x in ipairs { 0.1, 1 / 3, 2 ^ 60 + 0.0, 123456.789e-20, -1e-300 } do
      assert.equal(x, tonumber(output.encode(x)))
    end
    assert.has_error(function() output.encode({ f = print }) end)
  end)

  it("keeps [] and {} apart in what the user types, and says where a text goes wrong", function()
    local v = assert(jsontext.decode('{"a": [], "b": {}, "c": [1, 2.5, "\\u00e9\\ud83d\\ude00", null, true, false]}'))
    assert.equal(json.empty_array, v.a)
    assert.equal('{"a":[],"b":{},"c":[1,2.5,"é😀",null,true,false]}', output.encode(v))
    local sent = json.encode(v) -- what goes out to the API
    assert.truthy(sent:find('"a":[]', 1, true) and sent:find('"b":{}', 1, true), sent)
    assert.equal("integer", math.type(v.c[1]))
    for text, where in pairs { ["[1,"] = "byte 4", ['{"a" 1, []}'] = "byte 6", ["[] x"] = "byte 4",
      ['["\\q"] []'] = "unknown escape" } do
      local value, err = jsontext.decode(text)
      assert.is_nil(value, text)
      assert.matches(where, err, 1, true)
    end
    -- a text without an empty container takes the C decoder: the same values
    assert.same(json.decode('{"x": [1, {"y": "z"}]}'), jsontext.decode('{"x": [1, {"y": "z"}]}'))
  end)
end)

describe("completion", function()
  it("registers itself in bash", function()
    local code, out = sh("bash -c " .. q("source " .. helpers.root .. "/tools/completion/iblai.bash; complete -p iblai"))
    assert.equal(0, code)
    assert.equal("complete -o bashdefault -o default -F _iblai iblai\n", out)
  end)

  local function sorted(list)
    table.sort(list)
    return list
  end

  it("completes commands, operationIds, parameter names, values, options and paths in bash", function()
    assert.same({ "call", "cohort-report" }, cli.bash_complete("iblai c"))
    assert.same({ "ops" }, cli.bash_complete("iblai help o"))
    assert.same({ "ai_mentor_orgs_users_edx_memory_destroy", "ai_mentor_orgs_users_edx_memory_list",
      "ai_mentor_orgs_users_edx_memory_retrieve" }, sorted(cli.bash_complete("iblai call ai_mentor_orgs_users_edx_memory_")))
    assert.same({ "page=", "page_size=" }, cli.bash_complete("iblai call ai_mentor_orgs_users_edx_memory_list pa"))
    -- a parameter already given is not offered again
    assert.same({ "page=" }, cli.bash_complete("iblai call ai_mentor_orgs_users_edx_memory_list page_size=3 pa"))
    -- bash completes after the '=' of a word: the values alone
    assert.same({ "daily", "hourly", "weekly" },
      cli.bash_complete("iblai call ai_analytics_orgs_users_user_cohorts_over_time_retrieve aggregation="))
    assert.same({ "weekly" },
      cli.bash_complete("iblai call ai_analytics_orgs_users_user_cohorts_over_time_retrieve aggregation=we"))
    assert.same({ "--paginate" }, cli.bash_complete("iblai call ai_mentor_orgs_users_edx_memory_list --pa"))
    assert.same({ "json", "csv" }, cli.bash_complete("iblai export-chats --format "))
    assert.same({ "/api/ai-marketing/", "/api/ai-media/", "/api/ai-mentor/" }, cli.bash_complete("iblai get /api/ai-m"))
    assert.same({ "id=" }, cli.bash_complete("iblai delete /api/ai-mentor/orgs/main/users/jane/edx-memory/3/ i"))
    -- a quoted path, as the README writes them; a value typed where the path has a {parameter}
    assert.same({ "/api/ai-marketing/", "/api/ai-media/", "/api/ai-mentor/" }, cli.bash_complete("iblai get '/api/ai-m"))
    assert.same({ "/api/ai-mentor/orgs/acme/users/" }, cli.bash_complete("iblai get /api/ai-mentor/orgs/acme/u"))
    assert.same({ "page_size=" }, cli.bash_complete("iblai get '/api/ai-mentor/orgs/{org}/users/{user_id}/artifacts/' page_s"))
    assert.same({ "md", "csv", "json", "html" }, cli.bash_complete("iblai cohort-report --format "))
    assert.same({ "edx,mentor" }, cli.bash_complete("iblai memory-reset --stores edx,m"))
    assert.same({ "--restricted" }, cli.bash_complete("iblai --re"))
    assert.same({ "--max-memory", "--max-seconds" }, cli.bash_complete("iblai --restricted --m"))
    -- nothing to offer: bash falls back to file names (complete -o default)
    assert.same({}, cli.bash_complete("iblai run "))
    assert.same({}, cli.bash_complete("iblai --restricted --max-seconds 5 "))
  end)

  it("registers itself in zsh and completes the same words", function()
    if not cli.has("zsh") then
      pending("zsh is not installed")
      return
    end
    local out = cli.zsh_complete { "iblai", "call", "ai_mentor_orgs_users_edx_memory_list", "pa" }
    assert.same({ "registered: _iblai", "page=", "page_size=" }, out)
    assert.same({ "registered: _iblai", "call", "cohort-report" }, cli.zsh_complete { "iblai", "c" })
    assert.same({ "registered: _iblai", "aggregation=daily", "aggregation=hourly", "aggregation=weekly" },
      cli.zsh_complete { "iblai", "call", "ai_analytics_orgs_users_user_cohorts_over_time_retrieve", "aggregation=" })
    assert.same({ "registered: _iblai", "(files)" }, cli.zsh_complete { "iblai", "run", "" })
  end)

  it("answers through iblai __complete, from the commands' parsers and the API's facts", function()
    local code, out = run { "__complete", "memory-reset", "--st" }
    assert.equal(0, code)
    assert.equal("--stores\n", out)
    code, out = run { "__complete", "ops", "core_platform_users_r" }
    assert.equal(0, code)
    assert.equal("core_platform_users_retrieve\n", out)
  end)
end)

describe("the man page", function()
  it("is what tools/gen_man.lua makes of the commands' help (make man)", function()
    local code, out, err = run { helpers.root .. "/tools/gen_man.lua" }
    assert.equal(0, code, err)
    assert.equal(out, read(helpers.root .. "/doc/iblai.1"))
    for _, c in ipairs(require("iblai.cli").commands) do
      if c.module then assert.matches("\n.SS iblai " .. c.name:gsub("%-", "\\%%-"), out) end
    end
    assert.matches("\n.B \\-\\-dry\\-run\n", out, 1, true)
  end)

  it("renders without a warning from groff", function()
    if not cli.has("groff") then
      pending("groff is not installed")
      return
    end
    local code, out, err = sh("groff -man -Tutf8 -ww -z " .. q(helpers.root .. "/doc/iblai.1"))
    assert.equal(0, code)
    assert.equal("", out .. err)
  end)

  it("is installed by make install with the completion scripts", function()
    local prefix = os.tmpname()
    os.remove(prefix)
    local code, _, err = sh(("make -s -C %s install PREFIX=%s >/dev/null"):format(q(helpers.root), q(prefix)))
    assert.equal(0, code, err)
    assert.equal(read(helpers.root .. "/doc/iblai.1"), read(prefix .. "/share/man/man1/iblai.1"))
    assert.equal(read(helpers.root .. "/tools/completion/iblai.bash"),
      read(prefix .. "/share/bash-completion/completions/iblai"))
    assert.equal(read(helpers.root .. "/tools/completion/iblai.zsh"), read(prefix .. "/share/zsh/site-functions/_iblai"))
    code = sh(("make -s -C %s uninstall PREFIX=%s >/dev/null"):format(q(helpers.root), q(prefix)))
    assert.equal(0, code)
    assert.is_nil(io.open(prefix .. "/share/man/man1/iblai.1"))
    os.execute("rm -rf " .. q(prefix))
  end)
end)

describe("examples/org_overview.lua", function()
  local sb

  setup(function()
    sb = helpers.sandbox("--users", "30", "--seed", "4")
  end)

  teardown(function()
    sb.stop()
  end)

  it("uses each, call and call_many, and lines up its columns", function()
    local path = helpers.root .. "/examples/org_overview.lua"
    local source = read(path)
    for _, api in ipairs { "client:each(", "client:call(", "client:call_many(" } do
      assert.truthy(source:find(api, 1, true), api)
    end
    assert.is_nil(source:find("client:request", 1, true))
    local _, users = run({ "call", "core_platform_users_retrieve", "page_size=1" }, { IBLAI_BASE_URL = sb.url,
      IBLAI_API_KEY = "k" })
    local code, out, err = run({ path }, { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k", IBLAI_ORG = "main",
      IBLAI_USERNAME = json.decode(users).results[1].username })
    assert.equal(0, code, err)
    assert.matches("^org main: 30 users\n", out)
    local at, counts = nil, {}
    for line in out:gmatch("[^\n]+") do
      local n, word = line:match("^  %S+%s+(%d+) (artifacts?)$")
      if n then
        assert.equal(tonumber(n) == 1 and "artifact" or "artifacts", word, line)
        local column = line:find("%d+ artifact")
        at = at or column
        assert.equal(at, column, line)
        counts[#counts + 1] = tonumber(n)
      end
    end
    assert.equal(10, #counts)
    assert.matches("\n  week starting    new  returning\n", out)
  end)
end)

describe("make demo", function()
  it("needs only the runtime's Debian packages, not the npm development tools", function()
    local makefile = read(helpers.root .. "/Makefile")
    local recipe = makefile:match("\ndemo:\n(.-)\n\n")
    assert.matches("deps.sh runtime", recipe, 1, true)
    -- with an npm that fails when called, the runtime's dependencies are still satisfied
    local bin = os.tmpname()
    os.remove(bin)
    os.execute("mkdir -p " .. q(bin) .. " && printf '#!/bin/sh\\necho npm called >&2\\nexit 1\\n' > " .. q(bin .. "/npm")
      .. " && chmod +x " .. q(bin .. "/npm"))
    local code, out, err = sh("PATH=" .. q(bin) .. ":\"$PATH\" sh " .. q(helpers.root .. "/tools/deps.sh") .. " runtime")
    os.execute("rm -rf " .. q(bin))
    assert.equal(0, code, err)
    assert.is_nil((out .. err):find("npm", 1, true))
  end)
end)
