---@meta iblai
-- lua-language-server definitions of the iblai module: the client, its options and the Error
-- type (written by hand, checked against the module by spec/types_spec.lua). Each operation's
-- parameter and result classes, and the overloads of call and each on operation names, are
-- generated into iblai/operations*.lua beside this file (make regen).

---A JSON null in answers (iblai.null), also what a nullable parameter may be sent as.
---@alias iblai.Null lightuserdata

---@class iblai
---@field version string the version of iblai
---@field null iblai.Null a JSON null in answers
---@field Error table the metatable of every Error
---@field Client iblai.Client the class of clients
local iblai = {}

---@class iblai.Options
---@field base_url? string the API's base URL (default https://api.iblai.app/dm; env IBLAI_BASE_URL)
---@field api_key? string the key, sent to the base URL's origin only (env IBLAI_API_KEY)
---@field auth_scheme? string the word before the key in Authorization (default "Api-Token")
---@field org? string fills {org} in paths (env IBLAI_ORG)
---@field username? string fills {user_id} in paths (env IBLAI_USERNAME)
---@field timeout? number seconds a request may take (default 30)
---@field connect_timeout? number seconds a connection may take (default 10)
---@field retries? integer retries of what may be retried (default 4, at most 100)
---@field concurrency? integer requests in flight at once (default 8, 1 to 1000)
---@field proxy? string a proxy URL
---@field ca_file? string a CA bundle to trust instead of the system's
---@field user_agent? string the User-Agent header
---@field max_response_bytes? integer the largest response body read
---@field max_redirects? integer redirects followed (default 5)
---@field verbose? boolean curl's trace on stderr, the key redacted
---@field log? fun(event: table) response, retry and redirect events (never the key)
---@field sleep? fun(seconds: number) replaces the wait between retries
---@field backoff_base? number seconds of the first backoff
---@field backoff_max? number the largest backoff in seconds
---@field retry_after_max? number the largest Retry-After honoured, in seconds

---@alias iblai.ErrorKind
---| "http" # a status other than 2xx
---| "network" # no answer: connection, DNS, TLS
---| "timeout" # the request or the task took too long
---| "decode" # a 2xx body that is not the JSON it claims
---| "too_large" # a body over max_response_bytes
---| "config" # a bad option (nothing was sent)
---| "validation" # bad parameters (nothing was sent)
---| "pagination" # a listing whose pages do not add up
---| "task" # a task that failed

---@class iblai.Error
---@field kind iblai.ErrorKind what went wrong
---@field message string what happened
---@field status? integer the HTTP status
---@field op? string the operationId
---@field method? string the HTTP method
---@field url? string the URL (never with the key)
---@field body? string a bounded excerpt of the answer
---@field data? any the decoded error body
---@field headers? table<string, string> the answer's headers
---@field retryable? boolean whether trying again may help
---@field attempts? integer the attempts made
---@field param? string the parameter a validation error is about
---@field expected? string what the parameter should have been
---@field got? string what it was

---@class iblai.CallOptions
---@field timeout? number seconds this call may take
---@field retries? integer retries for this call
---@field retry_unsafe? boolean retry a POST or PATCH too
---@field headers? table<string, string> extra headers

---@class iblai.PageOptions: iblai.CallOptions
---@field concurrency? integer pages fetched ahead at once

---@class iblai.Request
---@field method? string "GET" unless given
---@field path? string under base_url
---@field url? string a whole URL instead of path
---@field query? table<string, any> the query string
---@field json? any a value sent as JSON
---@field body? string a body sent as it is
---@field headers? table<string, string> extra headers
---@field timeout? number seconds it may take
---@field retries? integer retries for it
---@field retry_unsafe? boolean retry a POST or PATCH too
---@field op? string a name for errors
---@field decode? boolean false: a JSON body stays text

---@class iblai.Response
---@field status integer the HTTP status
---@field headers table<string, string> the headers, names in lower case
---@field body any the body, decoded when it is JSON
---@field url string the URL answered
---@field method string the method sent
---@field attempts integer the attempts made

---@class iblai.TaskOptions
---@field deadline? number seconds until giving up (default 600)
---@field interval? number seconds before the second poll (default 1)
---@field max_interval? number the largest interval (default 15)
---@field factor? number the growth of the interval per poll (default 1.5)
---@field ready? fun(body: any): (boolean|"done"|"pending"|nil), string? how to read a poll's answer
---@field on_poll? fun(body: any, err: iblai.Error?, polls: integer) after each poll
---@field sleep? fun(seconds: number) replaces the wait between polls
---@field clock? fun(): number replaces the clock

---@class iblai.Operation
---@field id string the operationId
---@field method string the HTTP method
---@field path string the path template
---@field params table[] the parameters' facts
---@field body? table the body's facts
---@field envelope? string the pagination envelope of a listing

---@class iblai.Session
local Session = {}

---Transfers in flight now, over every walk and call.
---@return integer
function Session:in_flight() end

---@class iblai.Client
---@field base_url string the base URL
---@field org? string fills {org}
---@field username? string fills {user_id}
---@field concurrency integer requests in flight at once
---@field session iblai.Session the iblai.core session
local Client = {}

---Creates a client; a bad option gives nil and an Error of kind "config".
---@param opts? iblai.Options
---@return iblai.Client? client
---@return iblai.Error? err
function iblai.new(opts) end

---Creates a client from IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG and IBLAI_USERNAME; overrides win.
---@param overrides? iblai.Options
---@param getenv? fun(name: string): string?
---@return iblai.Client? client
---@return iblai.Error? err
function iblai.from_env(overrides, getenv) end

---One HTTP request, retried by the usual rules; a status other than 2xx is an Error.
---@param req iblai.Request
---@return iblai.Response? response
---@return iblai.Error? err
function Client:request(req) end

---Many requests at once; results[i] or errs[i] is set for each.
---@param reqs iblai.Request[]
---@param opts? { concurrency?: integer }
---@return (iblai.Response|false)[] results
---@return iblai.Error[] errs
function Client:request_many(reqs, opts) end

---Many calls at once: { op, params [, call options] } each; results[i] or errs[i] is set for each.
---@param calls { [1]: iblai.OperationId, [2]: table?, [3]: iblai.CallOptions? }[]
---@param opts? { concurrency?: integer }
---@return any[] results
---@return iblai.Error[] errs
function Client:call_many(calls, opts) end

---Polls an operation with growing intervals until its answer says the task is done.
---@param op iblai.OperationId
---@param params? table
---@param opts? iblai.TaskOptions
---@return any? body
---@return iblai.Error? err
function Client:wait_task(op, params, opts) end

---The facts of an operation; an unknown id raises.
---@param id iblai.OperationId
---@return iblai.Operation
function Client:operation(id) end

---What call would send for these parameters, checked; nothing is sent.
---@param op iblai.OperationId
---@param params? table
---@param opts? iblai.CallOptions
---@return table? request
---@return iblai.Error? err
function Client:prepare_call(op, params, opts) end

---A request table as the core sends it (a json field encoded).
---@param req iblai.Request
---@return iblai.Request
function Client:prepare(req) end

---Iterates over the page bodies of a listing; raises the Error of a page.
---@param op iblai.OperationId
---@param params? table
---@param opts? iblai.PageOptions
---@return fun(): table
function Client:pages(op, params, opts) end

---Every item of every page of a listing in one list.
---@param op iblai.OperationId
---@param params? table
---@param opts? iblai.PageOptions
---@return any[]? items
---@return iblai.Error? err
function Client:collect(op, params, opts) end

---Closes the client: requests in flight stop, connections close (also by <close> and the GC).
function Client:close() end

return iblai
