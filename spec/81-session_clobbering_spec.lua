-- Regression: two processes on one session file wiped each other's login. B opened the file,
-- A opened it, signed in and closed, B made a call and closed: the file ended with B's key and
-- no user, A's login lost without a word. Now a client holds a lock on its session file (a
-- second one gets SESSION_LOCKED at once), and a save never writes over a file that changed
-- on disk since it was read (SESSION_CONFLICT, from close() too).
local helpers = require("helpers")
local mtproto = require("mtproto")
local session_file = require("mtproto.session_file")

local PHONE, CODE = "9996621234", "22222" -- a test DC number of DC 2 and its code

-- A client in a child process, driven one command per line on its stdin; it answers each
-- with one line on its stdout (a file the spec reads).
local CHILD = [[
local mtproto = require("mtproto")
local path, host, port1, port2, pem_file = ...
local f = assert(io.open(pem_file))
local pem = f:read("a")
f:close()
local c
local function say(...) io.write(table.concat({ ... }, " "), "\n"); io.stdout:flush() end
for cmd in io.lines() do
  if cmd == "open" then
    local err
    c, err = mtproto.client{ api_id = 12345, api_hash = "0123456789abcdef0123456789abcdef",
      session = path, timeout = 10, rsa_keys = { pem }, dc_options = { [1] = { host = host, port = tonumber(port1) },
      [2] = { host = host, port = tonumber(port2) } } }
    local stat = io.open("/proc/self/stat"):read("l")
    say("open", c and "ok" or ("nil " .. err.message), stat:match("^%d+"))
  elseif cmd == "call" then
    local r, err = c.help.getNearestDc{}
    say("call", r and "ok" or tostring(err))
  elseif cmd == "login" then
    assert(c:send_code("]] .. PHONE .. [["))
    local auth, err = c:sign_in("]] .. CODE .. [[")
    say("login", auth and tostring(auth.user.id) or tostring(err))
  elseif cmd == "close" then
    local ok, err = c:close()
    say("close", tostring(ok), err and err.message or "")
  elseif cmd == "exit" then
    break
  end
end
]]

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local script = tmpname() .. ".lua"
do
  local f = assert(io.open(script, "w"))
  f:write(CHILD)
  f:close()
end

local function lines_of(path)
  local t = {}
  for l in helpers.slurp(path):gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

-- Starts a child for session `path`; returns an object whose ask(cmd) returns the answer.
local function child(dc, path)
  local out = tmpname()
  local pem = out .. ".pem"
  local f = assert(io.open(pem, "w"))
  f:write(dc.pem)
  f:close()
  local p = assert(io.popen(string.format("%s %s %s %s %d %d %s > %s 2>&1", helpers.LUA, script, path, dc.host,
    dc.ports[1], dc.ports[2], pem, out), "w"))
  local n = 0
  local ch = {}
  function ch.ask(cmd)
    p:write(cmd, "\n")
    p:flush()
    n = n + 1
    local line = helpers.eventually(function() return lines_of(out)[n] end, 30)
    assert(line, "no answer to " .. cmd .. ": " .. helpers.slurp(out))
    return line
  end
  function ch.exit()
    p:write("exit\n")
    p:close()
    os.remove(out)
    os.remove(pem)
  end
  return ch
end

describe("two clients on one session file", function()
  local T = helpers.use_testdc{ dcs = 2 }
  teardown(function() os.remove(script) end)

  it("the second process gets SESSION_LOCKED at once, and the first one's login stays", function()
    local path = tmpname()
    local b = child(T.dc, path)
    assert.matches("^open ok", b.ask("open"))
    local a = child(T.dc, path)
    assert.matches("^open nil SESSION_LOCKED", a.ask("open"))
    a.exit()
    assert.equal("call ok", b.ask("call"))
    assert.equal("close true ", b.ask("close"))
    b.exit()
    -- B is gone: A may now open the file and sign in
    a = child(T.dc, path)
    assert.matches("^open ok", a.ask("open"))
    local user = a.ask("login"):match("^login (%d+)$")
    assert.truthy(user)
    assert.equal("close true ", a.ask("close"))
    a.exit()
    local d = assert(session_file.load(path))
    assert.equal(tonumber(user), d.user_id)
    -- and a later client starts signed in, with A's key (no new handshake)
    local c = helpers.client(T.dc, { session = path })
    assert.equal(tonumber(user), c:session_info().user_id)
    assert.truthy(c.help.getNearestDc{})
    assert.is_true(c:close())
    os.remove(path)
  end)

  it("the lock goes with a process that dies", function()
    local path = tmpname()
    local b = child(T.dc, path)
    local pid = b.ask("open"):match("^open ok (%d+)$")
    assert.truthy(pid)
    assert(os.execute("kill -9 " .. pid))
    b.exit()
    local c, err = mtproto.client(T.dc:client_options{ api_id = helpers.API_ID, session = path })
    assert(c, err and tostring(err))
    assert.is_true(c:close())
    os.remove(path)
  end)

  it("never writes over a file that changed since it was read (the lock file was removed)", function()
    local path = tmpname()
    local b = child(T.dc, path)
    assert.matches("^open ok", b.ask("open"))
    -- the lock defeated: its file removed while B holds it
    local dir, name = path:match("^(.*)/([^/]*)$")
    os.remove(dir .. "/." .. name .. ".lock")
    local a = child(T.dc, path)
    assert.matches("^open ok", a.ask("open"))
    local user = a.ask("login"):match("^login (%d+)$")
    assert.truthy(user)
    assert.equal("close true ", a.ask("close"))
    a.exit()
    local signed = helpers.slurp(path)
    assert.equal("call ok", b.ask("call")) -- a new auth key for B: its save is refused
    assert.equal("close nil SESSION_CONFLICT", b.ask("close"))
    b.exit()
    assert.equal(signed, helpers.slurp(path))
    assert.equal(tonumber(user), assert(session_file.load(path)).user_id)
    os.remove(path)
  end)

  it("in one process: the second client gets nil, SESSION_LOCKED until the first is closed or collected", function()
    local path = tmpname()
    local first = helpers.client(T.dc, { session = path })
    local second, err = mtproto.client(T.dc:client_options{ api_id = helpers.API_ID, session = path })
    assert.is_nil(second)
    assert.equal("SESSION_LOCKED", err.message)
    assert.truthy(tostring(err):find(path, 1, true))
    assert.is_true(first:close())
    second = helpers.client(T.dc, { session = path }) -- luacheck: ignore 311 (dropped unclosed)
    second = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    local third = helpers.client(T.dc, { session = path })
    assert.is_true(third:close())
    -- no lock file is left behind
    local dir, name = path:match("^(.*)/([^/]*)$")
    assert.is_nil(io.open(dir .. "/." .. name .. ".lock"))
    os.remove(path)
  end)

  it("a save over a file written meanwhile returns SESSION_CONFLICT and keeps the other state", function()
    local path = tmpname()
    local c = helpers.client(T.dc, { session = path })
    assert.truthy(c.help.getNearestDc{})
    local other = assert(session_file.load(path))
    other.user_id = 777
    assert(session_file.save(path, other))
    local written = helpers.slurp(path)
    -- a sign-in changes the state: the save is refused and the caller can see it
    assert.truthy(c:send_code(PHONE))
    local info = c:session_info()
    assert.equal("SESSION_CONFLICT", info.session_error.message)
    local ok, err = c:close()
    assert.is_nil(ok)
    assert.equal("SESSION_CONFLICT", err.message)
    assert.equal(written, helpers.slurp(path))
    os.remove(path)
  end)
end)
