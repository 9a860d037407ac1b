-- Shared spec helpers: a test DC per spec file, raw connections to it, hex.
--
--   local helpers = require("helpers")
--   local T = helpers.use_testdc{ dcs = 3 }      -- inside a describe(): started once (lazy_setup)
--   it("...", function() local conn = helpers.conn(T.dc, 2) ... end)
--
-- The RSA key of every test DC a spec run starts is cached in one file (generating a
-- 2048-bit key costs a few hundred ms), so starting many servers stays cheap.
local M = {}

-- luv keeps its libuv loop in its module: loaded again by a later spec file (busted unloads
-- the modules a file loaded), the first copy's loop is collected under the second's feet (a
-- crash in uv_timer_init). Loaded here, by the helper busted runs before any spec file, it
-- stays loaded for the whole run.
pcall(require, "luv")

-- The source tree (spec/..): $MTPROTO_ROOT (the Makefile), else found from this file's path.
local function source_root()
  local env = os.getenv("MTPROTO_ROOT")
  if env and env ~= "" then return env end
  local dir = debug.getinfo(1, "S").source:match("^@(.*)spec/helpers%.lua$") or ""
  dir = dir:gsub("/$", "")
  if dir:sub(1, 1) ~= "/" then
    local cwd = os.getenv("PWD") or "."
    dir = dir == "" and cwd or (cwd .. "/" .. dir)
  end
  return dir
end
M.ROOT = source_root()

-- Without the Makefile's LUA_PATH/LUA_CPATH (`luarocks test`, plain `busted`): the installed
-- module when package.path finds one (`eval "$(luarocks path)"`), else this tree's lua/ and build/.
if not package.searchpath("mtproto", package.path) then
  package.path = M.ROOT .. "/lua/?.lua;" .. M.ROOT .. "/lua/?/init.lua;" .. package.path
end
if not package.searchpath("mtproto.core", package.cpath) then
  package.cpath = M.ROOT .. "/build/?.so;" .. package.cpath
end

-- A shell command running lua5.4 with this process's package.path and package.cpath, for
-- specs that run a child Lua (`exec` keeps working: env replaces itself with lua5.4).
local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
M.LUA = "env LUA_PATH=" .. shq(package.path) .. " LUA_CPATH=" .. shq(package.cpath) .. " lua5.4"

-- The event loops are loaded once, here (busted loads this file as its helper before any spec
-- file): busted gives each spec file a fresh package.loaded, and luv loaded again in a later
-- file made a second binding of the one default loop, which the first one's collection closed
-- under it (a crash under ASan).
pcall(require, "luv")
pcall(require, "cqueues")

-- The test DC program (found beside the module, see mtproto.testdc.binary).
M.TESTDC = require("mtproto.testdc").binary()

M.API_ID = 12345
M.API_HASH = "0123456789abcdef0123456789abcdef"

local key_file

-- The cached key file for this process (created by the first server that needs it).
function M.key_file()
  if not key_file then
    key_file = os.tmpname()
    os.remove(key_file)
    key_file = key_file .. "-testdc.pem"
  end
  return key_file
end

-- Starts a test DC (asserting it started), with the shared key unless opts.key is set.
function M.start_testdc(opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.key == nil then o.key = M.key_file() end
  return assert(require("mtproto.testdc").start(o))
end

-- The _ENV of the function `level` levels up (busted's describe/it/lazy_setup live in the
-- spec file's environment, not in _G).
local function caller_env(level)
  local info = debug.getinfo(level + 1, "f")
  local f = info and info.func
  for i = 1, 255 do
    local name, v = debug.getupvalue(f, i)
    if not name then break end
    if name == "_ENV" then return v end
  end
  return _G
end

-- Registers a test DC for the enclosing describe block: started before its first test,
-- stopped after its last. Returns a table whose `dc` field is the running server.
function M.use_testdc(opts)
  local env = caller_env(2)
  local h = {}
  env.lazy_setup(function() h.dc = M.start_testdc(opts) end)
  env.lazy_teardown(function() if h.dc then h.dc:stop() end end)
  return h
end

M.INIT = {
  api_id = M.API_ID, device_model = "spec", system_version = "busted", app_version = "1.0",
  system_lang_code = "en", lang_pack = "", lang_code = "en", layer = 223,
}

-- A connected core.conn to DC `i` of `dc` (transport default "padded").
function M.conn(dc, i, extra)
  local core = require("mtproto.core")
  local o = {
    host = dc.host, port = dc.ports[i], dc_id = i, transport = "padded", rsa_keys = { dc.pem },
    timeout = 10, connect_timeout = 5, init = M.INIT,
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  local c = core.conn.new(o)
  assert(c:connect())
  return c
end

-- Calls a TL object over conn: the decoded result, or nil, err; plus the raw result bytes.
function M.call(conn, obj, timeout)
  local tl = require("mtproto.tl")
  local bytes, err = conn:call(tl.encode(obj), timeout)
  if not bytes then return nil, err end
  local r, derr = tl.decode(bytes)
  if r == nil then error("tl.decode: " .. derr.detail, 2) end
  return r, bytes
end

-- A mtproto.client for dc (extra options merged).
function M.client(dc, extra)
  local o = dc:client_options{ api_id = M.API_ID, api_hash = M.API_HASH, timeout = 10 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return assert(require("mtproto").client(o))
end

-- A client of dc signed in with test number `phone` (99966XYYYY, code X five times):
-- the client and the user id.
function M.signed_in(dc, phone, extra)
  local client = M.client(dc, extra)
  assert(client:send_code(phone))
  local auth = assert(client:sign_in(phone:sub(6, 6):rep(5)))
  return client, auth.user.id
end

-- true when something listens on 127.0.0.1:port (read from /proc/net/tcp: no socket library).
local function listening(port)
  local f = io.open("/proc/net/tcp", "r")
  if not f then return false end
  local want = (":%04X "):format(port)
  for line in f:lines() do
    local loc, st = line:match("^%s*%d+: (%x+:%x+) %x+:%x+ (%x+)")
    if loc and st == "0A" and (loc .. " "):sub(-6) == want then f:close() return true end
  end
  f:close()
  return false
end

-- Starts Debian's microsocks (a real SOCKS5 server) on a free port of 127.0.0.1, with a
-- login when opts.user/opts.password are given. Returns { host, port, pid, stop(), pause(),
-- resume() } (pause: SIGSTOP, the kernel still accepts connections but nothing answers).
function M.start_microsocks(opts)
  opts = opts or {}
  local bin = os.getenv("MICROSOCKS") or "microsocks"
  assert(os.execute("command -v " .. bin .. " >/dev/null 2>&1"), "microsocks is not installed (make deps)")
  local conn = require("mtproto.core").conn
  for _ = 1, 20 do
    local port = 20000 + math.random(0, 30000)
    if not listening(port) then
      local cmd = ("%s -i 127.0.0.1 -p %d%s >/dev/null 2>&1 </dev/null & echo $!"):format(bin, port,
        opts.user and (" -u '%s' -P '%s'"):format(opts.user, opts.password) or "")
      local p = assert(io.popen(cmd, "r"))
      local pid = math.tointeger(tonumber(p:read("l")))
      p:close()
      if M.eventually(function() return listening(port) or not M.alive(pid) end, 5) and M.alive(pid) then
        local s = { host = "127.0.0.1", port = port, pid = pid }
        function s.pause() os.execute("kill -STOP " .. pid) end
        function s.resume() os.execute("kill -CONT " .. pid) end
        function s.stop()
          os.execute(("kill -CONT %d 2>/dev/null; kill %d 2>/dev/null"):format(pid, pid))
          M.eventually(function() return not M.alive(pid) end, 5)
        end
        return s
      end
      os.execute("kill " .. pid .. " 2>/dev/null")
      conn.sleep(0.05)
    end
  end
  error("microsocks did not start")
end

function M.hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- bytes -> base64 (RFC 4648, padded), or base64url without padding when `url`.
function M.base64(s, url)
  local abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" .. (url and "-_" or "+/")
  local out = s:gsub("..?.?", function(c)
    local n = (c:byte(1) << 16) | ((c:byte(2) or 0) << 8) | (c:byte(3) or 0)
    local q = {}
    for k = 1, #c + 1 do
      local i = (n >> (6 * (4 - k))) & 63
      q[k] = abc:sub(i + 1, i + 1)
    end
    return table.concat(q) .. (url and "" or ("="):rep(3 - #c))
  end)
  return out
end

-- n deterministic filler bytes (a linear congruential sequence, not crypto).
function M.filler(n, seed)
  local t, x = {}, seed or 1
  for i = 1, n do x = (x * 1103515245 + 12345) % 2147483648; t[i] = string.char(x >> 16 & 255) end
  return table.concat(t)
end

-- s as TL bytes (length prefix, padding to 4).
function M.tlbytes(s)
  local h = #s < 254 and string.char(#s) or ("<I4"):pack(254 | #s << 8)
  local r = h .. s
  return r .. ("\0"):rep((4 - #r % 4) % 4)
end

-- "02 25 00 5e" -> bytes (spaces and newlines ignored).
function M.unhex(h)
  h = h:gsub("%s+", "")
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

-- Asserts that a call gave nil and an mtproto.Error with this code and message, which has an
-- offline description; returns the error.
function M.fails(expect_code, expect_message, r, err)
  assert(r == nil, "expected nil, got " .. tostring(r))
  assert(type(err) == "table", "expected an error, got " .. tostring(err))
  assert(err.message == expect_message, "expected " .. expect_message .. ", got " .. tostring(err))
  assert(err.code == expect_code, "expected code " .. expect_code .. ", got " .. tostring(err))
  assert(type(err.description) == "string", "no offline description for " .. expect_message)
  return err
end

-- What a binding returns when it fails at run time, as a list for assert.same: nil and the
-- bindings' one error table.
function M.nil_err(code, message, detail)
  return { nil, { code = code, message = message, detail = detail } }
end

-- Runs fn(loop) as a coroutine of the event loop `mode` ("cqueues" or "luv", passed to fn as
-- the client's loop option) until the loop ends, or fn(nil) in "blocking" mode; raises what
-- fn raised.
function M.under_loop(mode, fn)
  if mode == "blocking" then return fn(nil) end
  local r
  local function main() r = table.pack(pcall(fn, mode)) end
  if mode == "cqueues" then
    local cq = require("cqueues").new()
    cq:wrap(main)
    assert(cq:loop())
  else
    coroutine.wrap(main)()
    require("luv").run()
  end
  assert(r, "the coroutine did not finish")
  assert(r[1], r[2])
  return table.unpack(r, 2, r.n)
end

-- A fresh temporary path that does not exist yet.
function M.tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- A new empty directory under the system's temporary directory.
function M.tmpdir()
  local p = M.tmpname()
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

-- The names in a directory, hidden ones included, sorted.
function M.ls(dir)
  local names = {}
  local p = io.popen("ls -A '" .. dir .. "'")
  for n in p:lines() do names[#names + 1] = n end
  p:close()
  table.sort(names)
  return names
end

-- Runs a shell command: its output (what the command sends to stdout; add 2>&1 for stderr)
-- and its exit status.
function M.run(cmd)
  local p = assert(io.popen(cmd .. "; echo \"exit=$?\""))
  local out = p:read("a")
  p:close()
  local body, status = out:match("^(.-)exit=(%d+)\n$")
  return body, tonumber(status)
end

-- Writes chunk to a file and runs it in a child lua5.4 (`env`: variables put before it).
local function run_chunk(env, chunk)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(chunk)
  f:close()
  local out, status = M.run(env .. M.LUA .. " " .. path .. " 2>&1")
  os.remove(path)
  return out, status
end

-- Runs a Lua chunk in a child lua5.4 (a fresh heap, or a crash that must not take busted down)
-- with this process's module paths: its output (stdout and stderr) and its exit status.
-- `env` ("NAME=value ", optional) goes before the command.
function M.run_lua(chunk, env) return run_chunk(env or "", chunk) end

-- Runs a Lua chunk like run_lua, with OpenSSL configured to load only its "null" provider:
-- every digest, cipher and random draw of libcrypto fails in that child, for real.
function M.run_lua_without_openssl(chunk, env)
  local conf = os.tmpname()
  local f = assert(io.open(conf, "w"))
  f:write("openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n",
    "[provider_sect]\nnull = null_sect\n[null_sect]\nactivate = 1\n")
  f:close()
  local out, status = run_chunk("OPENSSL_CONF=" .. shq(conf) .. " " .. (env or ""), chunk)
  os.remove(conf)
  return out, status
end

-- This process's resident set size in KiB (Linux).
function M.rss_kib()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end

-- A test DC whose log (-v) goes to a file: the server writes a line for each message it
-- receives and for each auth key it makes, before it answers, so counting lines after an
-- answer has arrived is free of races. Returns the DC, count(pattern) and stop().
function M.logged_dc(opts)
  local log, wrap = os.tmpname(), os.tmpname()
  local f = assert(io.open(wrap, "w"))
  f:write("#!/bin/sh\nexec '", M.TESTDC, "' \"$@\" 2>>'", log, "'\n")
  f:close()
  assert(os.execute("chmod +x '" .. wrap .. "'"))
  opts.verbose, opts.binary = 1, wrap
  local dc = assert(require("mtproto.testdc").start(opts))
  local function count(pattern)
    local n = 0
    for _ in M.slurp(log):gmatch(pattern) do n = n + 1 end
    return n
  end
  return dc, count, function() dc:stop(); os.remove(log); os.remove(wrap) end
end

-- Reads a whole file ("" when missing).
function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes raw bytes to 127.0.0.1:port (bash's /dev/tcp) and returns what the server sent back
-- once it closed the connection, or nil when it kept it open for 5 s.
function M.raw_exchange(port, bytes)
  local f = os.tmpname()
  local h = assert(io.open(f, "wb"))
  h:write(bytes)
  h:close()
  local got = f .. ".out"
  local p = assert(io.popen(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && cat %s >&3 && timeout 5 cat <&3 >%s; echo $?'")
    :format(math.tointeger(port), f, got)))
  local status = p:read("l")
  p:close()
  local out = M.slurp(got)
  os.remove(f)
  os.remove(got)
  if status ~= "0" then return nil end
  return out
end

-- ---- interop/: independent clients (node scripts) against the test DC ----------------------

M.INTEROP = M.ROOT .. "/interop"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Why the interop specs cannot run here: a string when node is not on PATH (they are skipped,
-- saying so), nil when they can. The same when npm `package` is not installed in interop/.
-- Under MTPROTO_REQUIRE_INTEROP=1 (`make test`, CI: they install node and run `npm ci`) both
-- raise instead: a forgotten `npm ci` must fail, not skip.
function M.interop_unavailable(package)
  local p = io.popen("node --version 2>/dev/null")
  local v = p and p:read("l")
  if p then p:close() end
  if not (v and v:match("^v%d+")) then
    local why = "node is not on PATH: the interop specs need node >= 18 and `npm ci` in interop/"
    -- CI and `make test` install node: there a missing node is a failure, not a skip
    if os.getenv("MTPROTO_REQUIRE_INTEROP") == "1" then error(why, 2) end
    return why
  end
  local f = io.open(M.INTEROP .. "/node_modules/" .. package .. "/package.json")
  if not f then
    local why = package .. " is not installed: run `make deps` (npm ci in interop/)"
    if os.getenv("MTPROTO_REQUIRE_INTEROP") == "1" then error(why, 2) end
    return why
  end
  f:close()
  return nil
end

-- The errors every interop walk meets, in this order, once the resends of its code ran out:
-- what the test DC answers any client.
M.INTEROP_LADDER_ERRORS = {
  { step = "auth.resendCode -> unavailable", error = { code = 406, message = "SEND_CODE_UNAVAILABLE" } },
  { step = "auth.resendCode empty hash", error = { code = 400, message = "PHONE_CODE_HASH_EMPTY" } },
  { step = "auth.resendCode unknown hash", error = { code = 400, message = "PHONE_CODE_EXPIRED" } },
  { step = "auth.resendCode bad number", error = { code = 400, message = "PHONE_NUMBER_INVALID" } },
  { step = "auth.sendCode bad number", error = { code = 400, message = "PHONE_NUMBER_INVALID" } },
  { step = "auth.sendCode other DC", error = { code = 303, message = "PHONE_MIGRATE_1" } },
}

-- Server faults an independent client must ride through unchanged: { name, faults } rows.
M.INTEROP_FAULTS = {
  { "bad_salt", { bad_salt = true } },
  { "new_session", { new_session = true } },
  { "update_first", { update_first = true } },
  { "clock_offset", { clock_offset = 120 } },
}

-- The lists given, one after the other, in one new list.
function M.concat(...)
  local out = {}
  for _, list in ipairs{ ... } do
    for _, v in ipairs(list) do out[#out + 1] = v end
  end
  return out
end

-- The login-code ladder mtcute walks (interop/mtcute_login.mjs), step by step: the answer's
-- constructor, or the server's error. The same wherever mtcute goes (directly, through a proxy).
M.MTCUTE_LADDER_STEPS = M.concat({
  { step = "help.getConfig", result = "config" },
  { step = "help.getNearestDc", result = "nearestDc" },
  { step = "updates.getState unauthorized", error = { code = 401, message = "AUTH_KEY_UNREGISTERED" } },
  { step = "auth.sendCode", result = "auth.sentCode" },
  { step = "auth.resendCode -> Sms", result = "auth.sentCode" },
  { step = "auth.resendCode -> Call", result = "auth.sentCode" },
  { step = "auth.resendCode -> FlashCall", result = "auth.sentCode" },
}, M.INTEROP_LADDER_ERRORS, {
  { step = "auth.sendCode (sign in)", result = "auth.sentCode" },
  { step = "auth.signIn wrong code", error = { code = 400, message = "PHONE_CODE_INVALID" } },
  { step = "auth.signIn", result = "auth.authorization" },
  { step = "updates.getState", result = "updates.state" },
  { step = "auth.sendCode migrated", result = "auth.sentCode" },
  { step = "auth.signIn migrated", result = "auth.authorization" },
})

-- The JSON arguments of an interop script for test DC `d`: its start-up data, `extra` merged.
function M.interop_args(d, extra)
  local a = { host = d.host, ports = {}, rsa_public_pem = d.pem, fingerprint = d.fingerprint, timeout_ms = 60000 }
  for i = 1, d.dcs do a.ports[tostring(i)] = d.ports[i] end
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

-- Starts `node interop/<script> @args.json` without waiting; returns a function that waits for
-- it and returns (decoded JSON line or nil, raw output, exit status).
local function spawn_node(script, args)
  local json = require("dkjson")
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(json.encode(args))
  f:close()
  -- `make test SANITIZE=1` preloads ASan into every child: node is not ours to check.
  local p = assert(io.popen(("env -u LD_PRELOAD -u ASAN_OPTIONS node %s @%s 2>&1"):format(
    sh_quote(M.INTEROP .. "/" .. script), sh_quote(path))))
  return function()
    local out = p:read("a")
    local _, _, status = p:close()
    os.remove(path)
    local line = out:match("(%b{})%s*$")
    return line and json.decode(line), out, status
  end
end

-- Runs interop scripts, at most `parallel` node processes at once (each does handshakes in pure
-- JS; a crowded CPU only makes every run slower). jobs = { { name, script, args }, ... };
-- returns { [name] = { res = decoded JSON line, out = output, status = exit status } }.
function M.run_node_jobs(jobs, parallel)
  local runs, inflight = {}, {}
  local function reap()
    local job = table.remove(inflight, 1)
    local res, out, status = job[2]()
    runs[job[1]] = { res = res, out = out, status = status }
  end
  for _, job in ipairs(jobs) do
    if #inflight >= parallel then reap() end
    inflight[#inflight + 1] = { job[1], spawn_node(job[2], job[3]) }
  end
  while #inflight > 0 do reap() end
  return runs
end

-- Waits (up to `limit` seconds) until fn() is true; returns its last value.
function M.eventually(fn, limit)
  local conn = require("mtproto.core").conn
  local deadline = conn.monotonic() + (limit or 5)
  repeat
    local v = fn()
    if v then return v end
    conn.sleep(0.02)
  until conn.monotonic() > deadline
  return fn()
end

-- true while process `pid` exists.
function M.alive(pid)
  return os.execute("kill -0 " .. math.tointeger(pid) .. " 2>/dev/null") == true
end

-- The event loops installed here: { "cqueues", "luv" } or fewer.
function M.loops()
  local l = {}
  if pcall(require, "cqueues") then l[#l + 1] = "cqueues" end
  if pcall(require, "luv") then l[#l + 1] = "luv" end
  return l
end

-- Runs main() in a coroutine on a loop of `mode` ("cqueues" or "luv") with a 10 ms timer
-- beside it while done() is false (stats.ticks, and stats.late: its worst lateness in
-- seconds), until the loop has nothing left to do.
function M.run_ticking(mode, main, stats, done)
  local now = require("mtproto.core").conn.monotonic
  local function tick(t0)
    stats.ticks = stats.ticks + 1
    stats.late = math.max(stats.late, now() - t0 - 0.01)
  end
  if mode == "cqueues" then
    local cqueues = require("cqueues")
    local cq = cqueues.new()
    cq:wrap(main)
    cq:wrap(function()
      while not done() do
        local t0 = now()
        cqueues.sleep(0.01)
        tick(t0)
      end
    end)
    assert(cq:loop())
  else
    local uv = require("luv")
    local timer = uv.new_timer()
    local function arm()
      local t0 = now()
      timer:start(10, 0, function()
        tick(t0)
        if done() then timer:close() else arm() end
      end)
    end
    arm()
    local ok, e = coroutine.resume(coroutine.create(main))
    assert(ok, e)
    uv.run()
  end
end

-- An event loop for specs. M.loop(mode) -> L: an adapter for mtproto.client's `loop` option
-- that also records the longest time one of its coroutines ran between two waits (what the
-- client holds the loop for): L.stats.step in wall time and L.stats.step_cpu in CPU time
-- (os.clock: this process's; the wall time also counts the process being preempted on a
-- loaded machine); L.sleep(t) suspends the running coroutine; L.run(fn) runs fn on the loop
-- with the 10 ms timer of run_ticking beside it while fn runs, and raises what fn raised.
function M.loop(mode)
  local base = require("mtproto.loop").adapter(mode)
  local stats = { ticks = 0, late = 0, step = 0, step_cpu = 0 }
  local resumed = setmetatable({}, { __mode = "k" }) -- coroutine -> { wall, cpu } when it got the loop
  local L = { stats = stats, now = base.now, cond = base.cond, running = base.running, forget = base.forget,
    spawn = base.spawn }
  function L.wait(...)
    local co = coroutine.running()
    local r = resumed[co]
    if r then
      stats.step = math.max(stats.step, base.now() - r[1])
      stats.step_cpu = math.max(stats.step_cpu, os.clock() - r[2])
    end
    base.wait(...)
    resumed[co] = { base.now(), os.clock() }
  end
  function L.sleep(t) base.wait(nil, nil, base.now() + t) end
  function L.run(fn)
    local done, err = false, nil
    M.run_ticking(mode, function()
      local ok, e = xpcall(fn, debug.traceback)
      done = true
      if not ok then err = e end
    end, stats, function() return done end)
    if err then error(err, 0) end
    return stats
  end
  return L
end

return M
