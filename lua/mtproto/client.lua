--- mtproto.client: the public API.
--
--   local client = mtproto.client{ api_id = 12345, api_hash = "...", session = "my.session" }
--   -- or a session encrypted at rest (mtproto.session_file):
--   --   session = { path = "my.session", passphrase = "..." }  (or key = <32 bytes>)
--   local sent, err = client.auth.sendCode{ phone_number = "...", api_id = 12345,
--     api_hash = "...", settings = {} }
--   client:close()
--
-- Every method of the schema is `client.<namespace>.<method>{...}` (or
-- `client.<method>{...}` without a namespace) and `client:invoke(obj)`. Argument
-- errors raise before anything is sent; RPC and network failures return nil and
-- a mtproto.Error. One connection per DC, opened on first use; the home DC moves
-- on 303 *_MIGRATE_N; FLOOD_WAIT_N up to `flood_sleep_threshold` is slept off.
-- Pipelining: client:send(obj) -> pending (pending:wait()), client:invoke_all(list).
-- Updates: client:on_update(fn), client:run([seconds]), client:stop() (mtproto.updates).
-- @module mtproto.client
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local errors = require("mtproto.errors")
local session_file = require("mtproto.session_file")
local loops = require("mtproto.loop")
local login = require("mtproto.login")
local updates = require("mtproto.updates")
local proxies = require("mtproto.proxy")
local pfs = require("mtproto.pfs")

local Error = errors.Error
local M = {}

M.LAYER = core.LAYER -- the built-in schema's, which initConnection announces
M.PING_INTERVAL = 60   -- seconds of client:run() between two keep-alive pings
M.PING_DISCONNECT = 75 -- the server closes the connection if no ping came for this long
M.MAX_UPDATES = 10000 -- raw updates a connection keeps until the client reads them (oldest dropped)

-- Built-in addresses of the production and test DCs (port 443).
M.PRODUCTION_DCS = {
  [1] = "149.154.175.53", [2] = "149.154.167.51", [3] = "149.154.175.100",
  [4] = "149.154.167.91", [5] = "91.108.56.130",
}
M.TEST_DCS = { [1] = "149.154.175.10", [2] = "149.154.167.40", [3] = "149.154.175.117" }

local TRANSPORTS = { abridged = true, intermediate = true, padded = true, full = true, obfuscated = true }
local LEVELS = { error = 1, warn = 2, info = 3, debug = 4 }
local DEBUG = LEVELS.debug
local CORE_LEVELS = { [0] = "error", [1] = "warn", [2] = "info", [3] = "debug" } -- MT_LOG_*

-- The login-code methods a bot session may not use.
M.BOT_REFUSED = {
  ["auth.sendCode"] = true, ["auth.resendCode"] = true, ["auth.signIn"] = true,
  ["auth.signUp"] = true, ["auth.cancelCode"] = true, ["auth.resetLoginEmail"] = true,
  ["auth.reportMissingCode"] = true, ["auth.exportLoginToken"] = true, ["auth.importLoginToken"] = true,
}

local Client = {}
local ClientMT = { __name = "mtproto.client" }
local Pending = {}
Pending.__index = Pending
Pending.__name = "mtproto.pending"
M.Client = Client

local function argerror(n, fname, msg)
  error(string.format("bad argument #%d to '%s' (%s)", n, fname, msg), 0)
end

-- The longest wait a timeout may ask for: more than a day is a mistake (milliseconds given
-- for seconds), and an infinite or NaN deadline would never end a call.
M.MAX_TIMEOUT = 86400
M.MAX_DC = session_file.MAX_DC

local function is_seconds(v, zero_ok)
  return type(v) == "number" and v == v and v <= M.MAX_TIMEOUT and (v > 0 or (zero_ok and v == 0))
end

local function seconds_wanted(v, zero_ok)
  return string.format("expected a number of seconds %s 0 and <= %d, got %s", zero_ok and ">=" or ">",
    M.MAX_TIMEOUT, type(v) == "number" and tostring(v) or type(v))
end

-- The options of one call ({ dc =, timeout = }), checked before anything is queued or sent.
local function check_call_opts(opts, n, fname)
  if opts == nil then return end
  if type(opts) ~= "table" then argerror(n, fname, "expected a table of call options { dc =, timeout = }") end
  if opts.timeout ~= nil and not is_seconds(opts.timeout) then
    argerror(n, fname, "timeout: " .. seconds_wanted(opts.timeout))
  end
  if opts.dc ~= nil and (math.type(opts.dc) ~= "integer" or opts.dc < 1 or opts.dc > M.MAX_DC) then
    argerror(n, fname, "dc: expected a DC id (integer 1.." .. M.MAX_DC .. ")")
  end
end

local monotonic = core.conn.monotonic

-- Whether waits suspend the running coroutine on the client's loop (else they block).
local function suspending(s)
  local L = s.loop
  return L and L.running()
end

-- The private state of a client lives in one field so that every other key
-- can be a namespace (client.auth, client.phone, client.updates, ...). Its options are read
-- through its metatable (options_mt below), shared by the clients made with the same ones.
local DEFAULTS = { __index = {
  test_mode = false, transport = "padded", timeout = 10, connect_timeout = 5, flood_sleep_threshold = 10,
  state_save_interval = 1,
} }
local WEAK_KEYS = { __mode = "k" }

-- The client's own state of connection `conn` (s.links[conn], dropped with it): the key
-- changes it saw, and in a loop the condition every pump of it signals and whether a
-- coroutine pumps it now.
local function link(s, conn)
  local l = s.links[conn]
  if not l then
    l = { key_changes = 0 }
    s.links[conn] = l
  end
  return l
end
local function S(self)
  local s = rawget(self, "_s")
  if not s then error("mtproto: expected a client (use client:method(), not client.method())", 3) end
  if s.closed then error("mtproto: attempt to use a closed client", 3) end
  return s
end

-- A host table for a helper module (login, pfs) that calls back into client `s`: `makers`
-- give each field from `s` (a closure over it, mostly), made when the module first reads it.
local function lazy_host(makers)
  return {
    __index = function(host, name)
      local make = makers[name]
      if not make then return nil end
      local v = make(rawget(host, "_s"))
      rawset(host, name, v)
      return v
    end,
  }
end

-- The logger may raise, make calls or close the client: a raise is reported on stderr (the
-- first one) and goes no further (a log line never leaves the client's state half-updated);
-- what a call or a close does is checked by the code after each log line (s.closed).
local function log(s, level, fmt, ...)
  if s.log_level and LEVELS[level] <= s.log_level then
    local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
    if s.logger then
      local ok, err = pcall(s.logger, level, msg)
      if not ok and not s.logger_raised then -- said once per client, not once per line
        s.logger_raised = true
        io.stderr:write("mtproto: the logger raised (its lines are lost): ", tostring(err), "\n")
      end
    else
      io.stderr:write("mtproto [", level, "] ", msg, "\n")
    end
  end
end

-- What a call gets when the client was closed while it ran (by a logger, say).
local function closed_error(method)
  return Error.new{ code = -17, message = "CLIENT_CLOSED", method = method, is_local = true, kind = "final",
    detail = "the client was closed during the call" }
end

-- Writes the session file. A failure (I/O, or SESSION_CONFLICT: the file changed on disk)
-- stays in s.session_error, shown by session_info() and returned by close(), until a later
-- save succeeds.
local function save(s)
  if not s.file then return true end
  if s.upd then s.data.updates, s.data.channels = s.upd:snapshot() end
  s.upd_dirty, s.upd_saved = false, monotonic()
  local ok, err = s.file:save(s.data)
  if ok then
    s.session_error = nil
    return true
  end
  s.session_error = err
  log(s, "error", "the session was not saved: %s", tostring(err))
  return nil, err
end

local pfs_host -- below: the pfs module's host of a client, made on first use
local upd_of -- below: the update state of a client, made on first use

-- Tells the update state who is signed in now; run where data.user_id changes (a sign-in or
-- a log-out the login module observed, a replaced key). An update state is made only for a
-- user: a client that never signs in has none.
local function user_changed(s)
  local d, u = s.data, s.upd
  if u then
    if d.user_id ~= u.self_id then u:set_user(d.user_id, d.bot) end
  elseif d.user_id then
    upd_of(s):set_user(d.user_id, d.bot)
  end
  if d.user_id then s.signed_out = nil end
end

-- The server forgot the (permanent) auth key of `dc` and a new one was made: a new key is not
-- signed in, whoever the old one belonged to (AUTH_KEY_UNREGISTERED until the next sign-in).
local function key_replaced(s, dc)
  log(s, "info", "DC %d: the auth key changed", dc)
  if dc == s.data.home_dc and s.data.user_id then
    s.signed_out = Error.new{ code = 401, message = "AUTH_KEY_UNREGISTERED", is_local = true,
      detail = ("DC %d forgot the auth key of %s %s; the new key is not signed in: sign in again")
        :format(dc, s.data.bot and "bot" or "user", tostring(s.data.user_id)) }
    s.data.user_id, s.data.bot = nil, false
    if s.data.login and s.data.login.state == "ready" then s.data.login = nil end
    user_changed(s)
    log(s, "warn", "%s", s.signed_out.detail)
  end
end

local options_mt -- below: the shared metatable of the clients made with the same options

-- Copies the live key, salt and clock offset of a connection into the session.
local function sync(s, dc)
  local conn = s.conns[dc]
  if not conn then return false end
  local ok, st = pcall(conn.state, conn)
  if not ok or type(st) ~= "table" or not st.auth_key then return false end
  if s.pfs then return pfs.sync(pfs_host(s), dc, st) end -- the permanent key never carries calls
  local d = s.data.dcs[dc]
  local changed = not d or d.auth_key ~= st.auth_key or d.salt ~= st.salt or d.time_offset ~= st.time_offset
  if changed then
    if d and d.auth_key ~= st.auth_key then key_replaced(s, dc) end
    s.data.dcs[dc] = { auth_key = st.auth_key, key_id = st.auth_key_id, salt = st.salt or 0,
      time_offset = st.time_offset or 0 }
  end
  return changed
end

local function address(s, dc)
  local o = s.dc_options and s.dc_options[dc]
  if o then return o.host, o.port or 443 end
  local host = (s.test_mode and M.TEST_DCS or M.PRODUCTION_DCS)[dc]
  return host, host and 443 or nil
end

-- Tells the loop a connection's socket is about to be closed by us.
local function forget(s, conn)
  local f = s.loop and s.loop.forget
  if f then
    local fd = conn:pollfd()
    if fd >= 0 then f(fd) end
  end
end

-- Closes the connection of `dc` (pfs: its temporary key is replaced); the next call opens one.
local function drop_conn(s, dc)
  local conn = s.conns[dc]
  if not conn then return end
  s.conns[dc] = nil
  s.nconns = s.nconns - 1
  if s.dirty then s.dirty[conn] = nil end
  forget(s, conn)
  conn:close()
end

-- A connected driver for DC `dc` with the key `saved` (nil: a handshake makes one; expires_in:
-- a temporary one). It connects on the first call, unless `blocking` (the pfs set-up outside
-- an event loop: connected by `deadline` at most).
local function open(s, dc, saved, blocking, deadline)
  local host, port = address(s, dc)
  if not host then
    return nil, Error.new{ code = -4, message = "DC_UNKNOWN", is_local = true, kind = "final",
      detail = "no address for DC " .. tostring(dc) .. " (give one in dc_options)" }
  end
  -- the driver's own lines (connects, losses, dropped messages) join the client's log
  local clog
  if s.log_level then
    clog = function(level, msg) log(s, CORE_LEVELS[level] or "debug", "DC %d: %s", dc, msg) end
  end
  local c, err = core.conn.new{
    host = host, port = port, dc_id = s.test_mode and dc + 10000 or dc,
    transport = s.transport, rsa_keys = s.rsa_keys,
    auth_key = saved and saved.auth_key, salt = saved and saved.salt,
    time_offset = saved and saved.time_offset, expires_in = saved and saved.expires_in,
    timeout = s.timeout, connect_timeout = s.connect_timeout, init = s.init, log = clog,
    max_updates = M.MAX_UPDATES,
    proxy = s.proxy,
    -- on a loop a handshake's 2048-bit modexps go in parts, so that no step holds the loop for
    -- milliseconds (a blocking connect does them whole: the parts cost more CPU in all)
    split_modexp = s.loop and not blocking or false,
  }
  if not c then return nil, errors.from_conn(err) end
  log(s, "info", "DC %d: %s port %d (%s)", dc, host, port,
    saved and saved.auth_key and "saved auth key" or "new auth key")
  if not blocking then
    -- the first call connects (and makes a key) inside its own timeout: the link bounds the
    -- TCP connect, the handshake and the answer by the call's deadline (on a loop too)
    return c
  end
  local ok, cerr
  if not s.closed then ok, cerr = c:connect(deadline and math.max(0.001, deadline - monotonic())) end
  if s.closed then c:close(); return nil, closed_error() end -- by a logger, meanwhile
  if not ok then
    c:close()
    local e = errors.from_conn(cerr)
    log(s, "warn", "DC %d: connect failed: %s %s", dc, e.message, e.detail or "")
    return nil, e
  end
  return c
end

-- The connection to DC `dc`, opened (and keyed) on first use; with pfs, over a bound
-- temporary key, replaced when that key is about to expire. `timeout` (seconds; nil: the
-- client's) bounds the pfs set-up (which blocks, or in an event loop suspends the calling
-- coroutine); without pfs the first call connects.
local function connection(s, dc, timeout)
  local conn = s.conns[dc]
  if conn and s.pfs and pfs.expiring(pfs_host(s), dc) then
    log(s, "info", "DC %d: the temporary key is about to expire: binding a new one", dc)
    drop_conn(s, dc)
    pfs.drop(pfs_host(s), dc)
    conn = nil
  end
  if conn then return conn end
  local c, err
  if s.pfs then
    c, err = pfs.connect(pfs_host(s), dc, monotonic() + (timeout or s.timeout))
  else
    c, err = open(s, dc, s.data.dcs[dc])
  end
  if c and s.closed then c:close(); return nil, closed_error() end -- by a logger, meanwhile
  if not c then return nil, err end
  if s.conns[dc] == nil then s.nconns = s.nconns + 1 end
  s.conns[dc] = c
  return c
end

local function undecodable(method, err)
  return Error.new{ code = -6, message = "PROTOCOL_ERROR", method = method,
    detail = "cannot decode the answer: " .. err.detail }
end

local function decode_result(method, bytes)
  local r, err = tl.decode_result(method, bytes)
  if r == nil then return nil, undecodable(method, err) end
  return r
end

-- The answers that sign a key in (login.lua's observe).
local SIGN_INS = { ["auth.authorization"] = true, ["auth.sentCodeSuccess"] = true,
  ["auth.loginTokenSuccess"] = true }

local login_of -- below: the client's login record, made on first use

-- What a successful answer changes in the session: the login module sees the answers its
-- observe acts on (login.OBSERVED; a client that never logs in never makes its login record).
-- A sign-in answer first syncs the key: a key made meanwhile drops the old user, not this one.
-- (Only those: the other auth.* answers, a resendCode's sentCode say, change no key, and a
-- sync reads the whole connection state.) Every other answer changes nothing here.
local OBSERVED = login.OBSERVED
local function after_success(s, method, r, dc)
  local name = r ~= true and r and r._ -- (an answer is a table or a Bool: see UPDATES below)
  if OBSERVED[name] or OBSERVED[method] then
    if SIGN_INS[name] then sync(s, dc) end
    login_of(s):observe(method, r)
    user_changed(s)
  end
end

-- The method names checked so far (tl.info builds a table each time; the schema is fixed, so
-- one cache serves every client).
local KNOWN_METHODS = {}

-- Validates and encodes before anything is sent (tl.encode raises, naming
-- the method and the parameter).
local function prepare(obj, level)
  if type(obj) ~= "table" then
    error("mtproto: expected a TL method object (a table with _), got " .. type(obj), level)
  end
  local name = obj._
  if type(name) ~= "string" then error("mtproto: the object has no method name in _", level) end
  if KNOWN_METHODS[name] then return name, tl.encode(obj) end
  local ok, info = pcall(tl.info, name)
  if not ok or type(info) ~= "table" then error("mtproto: unknown method " .. name, level) end
  if info.kind ~= "method" then error("mtproto: " .. name .. " is a constructor, not a method", level) end
  KNOWN_METHODS[name] = true
  return name, tl.encode(obj)
end

local function refused(s, method)
  if s.data.bot and M.BOT_REFUSED[method] then
    return Error.new{ code = 400, message = "BOT_METHOD_INVALID", method = method, is_local = true,
      detail = "refused locally: this session is signed in as a bot (auth.importBotAuthorization)" }
  end
end

local function is_home_migration(e)
  return e.type == "PHONE_MIGRATE" or e.type == "NETWORK_MIGRATE" or e.type == "USER_MIGRATE"
end

-- Hands the updates a connection received to the update state. A new auth key (after a -404)
-- is saved at once. `k, waiting`: conn:key_changes()' answer when the caller has read it.
local function after_io(s, dc, conn, k, waiting)
  if s.closed then return end
  if k == nil then k, waiting = conn:key_changes() end
  local l = s.links[conn] or link(s, conn)
  if k ~= l.key_changes then
    l.key_changes = k
    if sync(s, dc) then save(s) end
  end
  if waiting then
    local u = upd_of(s)
    for _, bytes in ipairs(conn:updates()) do u:feed(bytes) end
  end
end

-- In a loop: one turn on connection `conn` until `deadline` at most. One coroutine at a time
-- waits on the socket and pumps it; the others wait on the connection's condition, which
-- every pump signals.
local function loop_turn(s, dc, conn, deadline)
  local L = s.loop
  local st = link(s, conn)
  if not st.cond then st.cond = L.cond() end
  if st.busy then
    L.wait(nil, nil, deadline, st.cond)
    return
  end
  st.busy = true
  local t, fd = conn:timeout(), conn:pollfd()
  local d = t and L.now() + t
  if deadline and (not d or deadline < d) then d = deadline end
  local ok, werr = pcall(L.wait, fd >= 0 and fd or nil, conn:events(), d, st.cond)
  st.busy = false
  if not s.closed then
    conn:pump()
    after_io(s, dc, conn)
  end
  st.cond.signal()
  if not ok then error(werr, 0) end
end

-- In a loop: waits for call `id` until `deadline` (nil: the call's own).
local function loop_wait(s, dc, conn, id, deadline)
  while true do
    if s.closed then
      return nil, { code = -17, message = "CONNECTION_CLOSED", detail = "the client was closed" }
    end
    local r, e = conn:check(id)
    if r ~= false then return r, e end
    if deadline and s.loop.now() >= deadline then
      return nil, { code = -16, message = "TIMEOUT", pending = true,
        detail = "no answer within the time waited; the call goes on" }
    end
    loop_turn(s, dc, conn, deadline)
  end
end

-- A loop pauses the coroutine; without one the process sleeps.
local function pause(s, seconds)
  if suspending(s) then
    s.loop.wait(nil, nil, s.loop.now() + seconds, nil)
  else
    core.conn.sleep(seconds)
  end
end

-- The Error of a call whose wait failed (`werr`, the connection's error table). A call that
-- timed out is over (the link never sends it again); the connection is dropped too (a server
-- that stopped answering would otherwise hold every later call): the next call reconnects in
-- the same session and the requests still waiting are re-sent under their msg_ids, so nothing
-- else in flight is lost.
local function wait_failed(s, dc, conn, method, werr)
  if werr.message == "TIMEOUT" and not s.closed then
    forget(s, conn)
    pcall(conn.disconnect, conn)
    log(s, "info", "DC %d: %s got no answer in time: reconnecting for the next call", dc, method)
  end
  return errors.from_conn(werr, method)
end

-- Waits for call `id` (at most `timeout` seconds; nil: until the call's own deadline). A wait
-- that runs out leaves the call going (third result true); a call that failed is over
-- (wait_failed).
local function waited(s, dc, conn, id, method, timeout)
  local res, werr
  if suspending(s) then
    res, werr = loop_wait(s, dc, conn, id, timeout and s.loop.now() + timeout)
  else
    res, werr = conn:wait(id, timeout)
    after_io(s, dc, conn)
    if s.closed then return nil, closed_error(method) end -- by a logger during the wait
  end
  if res ~= nil then return res end
  if werr.pending then return nil, errors.from_conn(werr, method), true end
  return nil, wait_failed(s, dc, conn, method, werr)
end

-- What is left at now of a call's `timeout` (nil: the client's) that started at t0 (the pfs
-- set-up of a first connection may have used some).
local function left(s, timeout, t0)
  return math.max(0.001, (timeout or s.timeout) - (monotonic() - t0))
end

-- Queues a call on `conn` bounded by `timeout` (nil: the client's); in a loop it is written
-- at once and the coroutine pumping the socket is told.
local function queue(s, conn, body, timeout)
  local id = conn:send(body, timeout or s.timeout)
  if suspending(s) then
    conn:pump()
    local st = s.links[conn]
    if st and st.cond then st.cond.signal() end
  end
  return id
end

-- The connection a call on `dc` may take directly, or nil. Directly, one C call (conn:call)
-- queues, writes and waits: what `once` does in many steps for a blocking call whose
-- connection is there and usable as it is (with pfs, its temporary key is not due for
-- renewal). In an event loop's coroutine a call suspends instead (loop_wait).
local function direct(s, dc)
  local conn = s.conns[dc]
  if not conn or suspending(s) or (s.pfs and pfs.expiring(pfs_host(s), dc)) then return nil end
  return conn
end

-- One round of a call on `dc`: the answer's bytes | nil, err [, true: a wait that ran out, the
-- call goes on].
local function once(s, dc, method, body, timeout)
  if s.closed then return nil, closed_error(method) end
  local conn = direct(s, dc)
  if conn then
    if s.dirty then s.dirty[conn] = nil end -- written with this call
    local res, werr = conn:call(body, timeout or s.timeout)
    after_io(s, dc, conn)
    if s.closed then return nil, closed_error(method) end -- by a logger during the wait
    if res ~= nil then return res end
    return nil, wait_failed(s, dc, conn, method, werr)
  end
  local t0 = monotonic()
  local err
  conn, err = connection(s, dc, timeout)
  if s.closed then return nil, closed_error(method) end -- by a logger during a pfs set-up
  if not conn then err.method = method; return nil, err end
  local id = queue(s, conn, body, left(s, timeout, t0))
  if s.dirty then s.dirty[conn] = nil end -- the wait writes it (and connects first when needed)
  return waited(s, dc, conn, id, method, nil)
end

-- The pfs set-up's waits (its host's open and await): blocking outside an event loop; in a
-- loop each one suspends the calling coroutine. `deadline` (monotonic) bounds them.

-- The TIMEOUT of a call whose time ran out during the pfs set-up (the call was never sent).
local function expired()
  return Error.new{ code = -16, message = "TIMEOUT", is_local = true,
    detail = "the time ran out before the call was sent (making and binding keys)" }
end

-- A driver for `dc` (pfs.connect's opts) whose key is made; in a loop its handshake runs
-- there (no call carries it: a permanent key never carries one), and a saved key is
-- connected by the first call.
local function pfs_open(s, dc, opts, deadline)
  if not suspending(s) then return open(s, dc, opts, true, deadline) end
  local c, err = open(s, dc, opts)
  if not c or opts.auth_key then return c, err end
  c:keep_open(math.max(0, deadline - monotonic()))
  c:pump() -- opens the socket: the loop then waits on it
  while not c:state().auth_key do
    local e = s.closed and closed_error() or monotonic() >= deadline and expired()
    if e then
      forget(s, c)
      c:close()
      return nil, e
    end
    loop_turn(s, dc, c, deadline)
  end
  return c
end

-- The answer to request `id` (the bind) on `c`: bytes | nil, err.
local function pfs_await(s, dc, c, id, deadline)
  if not suspending(s) then
    local ok, ferr = c:flush()
    if not ok then return nil, ferr end
    return c:wait(id, math.max(0, deadline - monotonic()))
  end
  c:pump()
  local res, err = loop_wait(s, dc, c, id, deadline)
  if res == nil and err.pending then err = expired() end
  return res, err
end

-- What the pfs module may do with the client (see mtproto.pfs).
local PfsHost = lazy_host{
  data = function(s) return s.data end,
  pfs = function(s) return s.pfs end,
  open = function(s) return function(dc, opts, deadline) return pfs_open(s, dc, opts, deadline) end end,
  await = function(s) return function(dc, c, id, deadline) return pfs_await(s, dc, c, id, deadline) end end,
  close = function(s) return function(c) forget(s, c); c:close() end end,
  save = function(s) return function() return save(s) end end,
  log = function(s) return function(level, fmt, ...) return log(s, level, fmt, ...) end end,
  key_replaced = function(s) return function(dc) key_replaced(s, dc) end end,
}

function pfs_host(s)
  local h = s.pfs_host
  if not h then
    h = setmetatable({ _s = s }, PfsHost)
    s.pfs_host = h
  end
  return h
end

-- After a first round that failed with `err`: with pfs, a -404 (the server forgot the
-- temporary key, so it ran nothing) binds a new key and sends the call once more.
local function after_404(s, dc, method, body, timeout, err)
  if not (s.pfs and err.message == "TRANSPORT_ERROR_404") then return nil, err end
  log(s, "info", "DC %d: the server forgot the temporary key (-404): binding a new one", dc)
  drop_conn(s, dc)
  pfs.drop(pfs_host(s), dc)
  return once(s, dc, method, body, timeout)
end

-- One round trip on DC `dc`; returns the raw answer or an Error.
local function roundtrip(s, dc, method, body, timeout)
  local res, err, pending = once(s, dc, method, body, timeout)
  if res == nil then return after_404(s, dc, method, body, timeout, err) end
  return res, err, pending
end

-- Turns a first answer (bytes, or an error) into the final one: migrates once,
-- sleeps off small FLOOD_WAITs, decodes. Returns result, nil, dc | nil, err.
local function finish(s, dc, method, body, res, err, timeout, pinned)
  local migrated, floods = false, 0
  while true do
    if res ~= nil then
      local r, derr = decode_result(method, res)
      if r == nil then return nil, derr end
      after_success(s, method, r, dc)
      return r, nil, dc
    end
    if err.kind == "migrate" and err.value and not migrated then
      migrated = true
      if is_home_migration(err) and not pinned then
        log(s, "info", "%s: %s, home DC %d -> %d", method, err.message, s.data.home_dc, err.value)
        s.data.home_dc = err.value
        save(s)
      else
        log(s, "info", "%s: %s, repeating on DC %d", method, err.message, err.value)
      end
      dc = err.value
    elseif err.kind == "retry" and err.retry_after and err.code == 420
        and err.retry_after <= s.flood_sleep_threshold and floods < 3 then
      floods = floods + 1
      log(s, "info", "%s: %s, sleeping %d s", method, err.message, err.retry_after)
      pause(s, err.retry_after)
    else
      if err.kind == "network" then
        if sync(s, dc) then save(s) end
        log(s, "warn", "%s: %s", method, tostring(err))
      else
        log(s, "debug", "%s: %s", method, tostring(err))
      end
      return nil, err
    end
    res, err = roundtrip(s, dc, method, body, timeout)
  end
end

-- client:invoke(obj [, opts]) -> result | nil, err.
-- opts.dc: send to that DC (not the home DC); opts.timeout: seconds.
-- Returns result, nil, dc_that_answered | nil, err.
local function call_encoded(s, method, body, opts)
  local rerr = refused(s, method)
  if rerr then return nil, rerr end
  local dc = opts and opts.dc or s.data.home_dc
  local timeout = opts and opts.timeout
  log(s, "debug", "call %s on DC %d", method, dc)
  local res, err = roundtrip(s, dc, method, body, timeout)
  return finish(s, dc, method, body, res, err, timeout, opts and opts.dc ~= nil)
end

-- A method function's call with no options when direct() gives the home DC's connection:
-- tl.call encodes `params`, sends, waits and decodes in one C call. A failure goes on as in
-- call_encoded, with the request's bytes tl.call returns. Returns NOT_DIRECT when it does not
-- apply (then call_encoded does it all).
local NOT_DIRECT = {}
local function call_direct(s, method, params)
  local d = s.data
  local dc = d.home_dc
  -- direct(s, dc) and refused(s, method), without their calls: this runs on every call
  local conn, L = s.conns[dc], s.loop
  if not conn or (L and L.running()) or (s.pfs and pfs.expiring(pfs_host(s), dc))
      or (d.bot and M.BOT_REFUSED[method]) then
    return NOT_DIRECT
  end
  if s.log_level == DEBUG then log(s, "debug", "call %s on DC %d", method, dc) end
  if s.dirty then s.dirty[conn] = nil end -- written with this call
  local r, err, body, bad = tl.call(conn, method, params, s.timeout)
  if s.closed then return nil, closed_error(method) end -- by a logger during the wait
  local k, waiting = conn:key_changes()
  if waiting or k ~= (s.links[conn] or link(s, conn)).key_changes then after_io(s, dc, conn, k, waiting) end
  if err == nil then
    after_success(s, method, r, dc)
    return r, nil, conn
  end
  if bad then return nil, undecodable(method, err) end
  err = wait_failed(s, dc, conn, method, err)
  if body == nil then return nil, err end -- a logger closed the connection: nothing to repeat
  local res
  res, err = after_404(s, dc, method, body, nil, err)
  return finish(s, dc, method, body, res, err, nil, false)
end

local function call(s, obj, opts, level)
  check_call_opts(opts, 2, "invoke")
  local method, body = prepare(obj, level + 1)
  return call_encoded(s, method, body, opts)
end

-- The Updates constructors: a call answered by one also moves the update state. (An answer is
-- a table or a Bool: the schema has no method answering a bare number or string, so
-- `r ~= true and r and r._` is its name without a call to type().)
local UPDATES = { updates = true, updatesCombined = true, updateShort = true, updateShortMessage = true,
  updateShortChatMessage = true, updateShortSentMessage = true, updatesTooLong = true }

-- Moves the raw updates the connections collected into the update state; notices a new
-- TCP connection to the home DC (updates pushed while there was none are lost).
local function pull(s)
  for dc, conn in pairs(s.conns) do
    if conn:has_updates() then
      local u = upd_of(s)
      for _, bytes in ipairs(conn:updates()) do u:feed(bytes) end
    end
    if dc == s.data.home_dc and s.upd and s.upd.pts then
      local n = conn:connections()
      if s.upd_conns and n ~= s.upd_conns then s.upd:reconnected() end
      s.upd_conns = n
    end
  end
end

local start_reader -- below: the update reader of a client in a loop

-- Runs the update machinery at the end of a public call (blocking mode): applies what
-- came in, fills gaps, runs the handlers, saves the state now and then. Nothing happens
-- while a dispatch already runs (a handler that called the client).
-- `seen`: a connection whose updates after_io has just taken, if any.
local function pump(s, result, request, seen)
  if s.closed then return end
  if s.loop and not s.reader then start_reader(s) end
  if result ~= true and result and UPDATES[result._] then upd_of(s):feed(result, request) end
  local u = s.upd
  if u and u.dispatching then return end
  if not u or (u.self_id == nil and u.pts == nil and #u.inbox == 0) then
    -- not signed in (every call of a benchmark): only what the connections hold can be new
    -- (nothing when the only one is `seen`)
    if seen and s.nconns == 1 and s.conns[s.data.home_dc] == seen then return end
    local any = false
    for _, conn in pairs(s.conns) do
      if conn:has_updates() then any = true; break end
    end
    if not any then return end
  end
  upd_of(s):dispatch()
  if not s.closed and s.upd_dirty and s.file and monotonic() - (s.upd_saved or 0) >= s.state_save_interval then
    save(s)
  end
end

--- client:invoke(obj [, opts]) -> the answer, or nil, err (an mtproto.Error). `obj` is a TL
-- method object ({ _ = "help.getConfig", ... }); opts: { dc = N (another DC), timeout = S }.
-- Migration (303) and FLOOD_WAIT up to flood_sleep_threshold are handled inside.
function Client:invoke(obj, opts)
  local s = S(self)
  local r, e = call(s, obj, opts, 3)
  pump(s, r, obj)
  return r, e
end

--- client:send(obj [, opts]) -> pending. The request is queued at once and
-- written on the next wait (or client:flush()), so a burst goes out together.
function Client:send(obj, opts)
  local s = S(self)
  check_call_opts(opts, 2, "send")
  local method, body = prepare(obj, 3)
  local p = setmetatable({ _s = s, method = method, body = body, request = obj,
    dc = opts and opts.dc or s.data.home_dc, pinned = opts and opts.dc ~= nil,
    timeout = opts and opts.timeout }, Pending)
  local rerr = refused(s, method)
  if rerr then p.done, p.err = true, rerr; return p end
  local t0 = monotonic()
  local conn, err = connection(s, p.dc, p.timeout)
  if s.closed then err = closed_error(method) end -- by a logger during a pfs set-up
  if not conn or s.closed then
    err.method = method
    p.done, p.err = true, err
    return p
  end
  p.conn, p.id = conn, queue(s, conn, body, left(s, p.timeout, t0))
  if not suspending(s) then
    s.dirty = s.dirty or {} -- the connections with requests queued and not yet written
    s.dirty[conn] = true
  end
  return p
end

--- Writes every queued request.
function Client:flush()
  local s = S(self)
  for conn in pairs(s.dirty or {}) do
    s.dirty[conn] = nil
    local ok, err = conn:flush()
    if not ok then return nil, errors.from_conn(err) end
  end
  return true
end

--- pending:wait([timeout]) -> what client:invoke would have returned. A wait shorter than the
-- call's own timeout that runs out returns nil, TIMEOUT and the call goes on: a later wait
-- can still get its answer. pending:cancel() gives it up.
function Pending:wait(timeout)
  if self.done then
    if self.err then return nil, self.err end
    return self.result
  end
  local s = self._s
  if s.closed then error("mtproto: attempt to use a closed client", 2) end
  if timeout ~= nil and not is_seconds(timeout) then argerror(1, "wait", seconds_wanted(timeout)) end
  local conn = self.conn
  if s.dirty then s.dirty[conn] = nil end -- the wait writes it (and connects first when needed)
  local res, err, going = waited(s, self.dc, conn, self.id, self.method, timeout)
  if going then return nil, err end
  local r, e = finish(s, self.dc, self.method, self.body, res, err, self.timeout, self.pinned)
  self.done, self.result, self.err = true, r, e
  pump(s, r, self.request)
  self.body, self.request = nil, nil
  if e then return nil, e end
  return r
end

--- Gives the call up: a late answer is dropped and the call is never sent again.
function Pending:cancel()
  if self.done then return end
  local s = self._s
  if not s.closed then pcall(self.conn.release, self.conn, self.id) end
  self.done, self.body = true, nil
  self.err = Error.new{ code = -16, message = "CANCELLED", method = self.method, is_local = true,
    kind = "final", detail = "the call was cancelled" }
end

function Pending:__tostring()
  return string.format("mtproto.pending %s (%s)", self.method,
    self.done and (self.err and "failed" or "done") or "in flight")
end

--- client:invoke_all{ obj1, obj2, ... } -> { result-or-error, ... } in order.
-- Every object is checked and encoded first: a bad one raises before any is sent.
function Client:invoke_all(list, opts)
  local s = S(self)
  if type(list) ~= "table" then argerror(1, "invoke_all", "expected a list of TL method objects") end
  check_call_opts(opts, 2, "invoke_all")
  for i = 1, #list do
    local ok, err = pcall(prepare, list[i], 0)
    if not ok then error(string.format("mtproto: invoke_all: item %d: %s", i, tostring(err)), 2) end
  end
  -- one deadline for the batch: a send that has to set up a connection (pfs) leaves the
  -- others what remains of it
  local deadline = monotonic() + (opts and opts.timeout or s.timeout)
  local pendings = {}
  for i = 1, #list do
    pendings[i] = self:send(list[i], { dc = opts and opts.dc, timeout = math.max(0.001, deadline - monotonic()) })
  end
  local results = {}
  for i = 1, #pendings do
    local r, e = pendings[i]:wait()
    results[i] = r == nil and e or r
  end
  return results
end

--- Read-only facts about the session (never the keys themselves).
function Client:session_info()
  local s = S(self)
  for dc in pairs(s.conns) do sync(s, dc) end
  local dcs, pending = {}, 0
  for dc, d in pairs(s.data.dcs) do
    local t = s.pfs and s.data.temp_keys and s.data.temp_keys[dc]
    dcs[dc] = { key_id = d.key_id, salt = d.salt, time_offset = d.time_offset,
      connected = s.conns[dc] ~= nil, temp_key_id = t and t.key_id, temp_expires_at = t and t.expires_at }
  end
  for _, conn in pairs(s.conns) do pending = pending + conn:state().pending end
  return {
    path = s.path, encrypted = s.file ~= nil and s.file.encrypted, home_dc = s.data.home_dc,
    test_mode = s.test_mode, bot = s.data.bot,
    user_id = s.data.user_id, dcs = dcs, login = login_of(s):info(), session_error = s.session_error,
    updates = s.upd and s.upd:snapshot() or nil,
    signed_out = s.signed_out,
    pending = pending, -- calls sent or queued and not yet answered, on every connection
  }
end

--- client:dc_address(dc) -> host, port (dc_options, else the built-in address).
function Client:dc_address(dc)
  local s = S(self)
  return address(s, dc or s.data.home_dc)
end

--- The driver object of a DC, for diagnostics and specs (opens it if needed).
function Client:connection(dc)
  local s = S(self)
  dc = dc or s.data.home_dc
  local conn, err = connection(s, dc)
  if not conn or suspending(s) then return conn, err end
  local ok, cerr = conn:connect()
  after_io(s, dc, conn)
  if s.closed then return nil, closed_error() end -- by a logger, meanwhile
  if not ok then return nil, errors.from_conn(cerr) end
  return conn
end

-- A keep-alive ping when one is due (client:run and the update reader): the server drops a
-- connection whose pings stop, so a dead client does not keep one open. True when one went.
local function ping_if_due(s, now)
  s.next_ping = s.next_ping or now + M.PING_INTERVAL
  if now < s.next_ping then return false end
  s.pings = (s.pings or 0) + 1
  s.next_ping = now + M.PING_INTERVAL
  local _, perr = call(s, { _ = "ping_delay_disconnect", ping_id = s.pings,
    disconnect_delay = M.PING_DISCONNECT }, nil, 3)
  if perr then log(s, "info", "keep-alive ping: %s", tostring(perr)) end
  return true
end

-- In a loop: reads the home DC's connection (kept open, pinged) and runs the update handlers
-- as updates arrive, until `deadline` (nil: none), client:stop() when `stoppable`, or
-- close(). Calls made meanwhile (a handler's, getDifference) share the connection.
local function read_updates(s, deadline, stoppable)
  local L = s.loop
  while not s.closed and not (stoppable and s.stopped) do
    pump(s)
    if s.closed or (stoppable and s.stopped) then break end
    local now = L.now()
    if deadline and now >= deadline then break end
    if not ping_if_due(s, now) then
      local until_t = s.next_ping
      if deadline and deadline < until_t then until_t = deadline end
      local nd = s.upd and s.upd:next_deadline()
      if nd and nd < until_t then until_t = math.max(now, nd) end
      local dc = s.data.home_dc
      local conn, err = connection(s, dc)
      if not conn then return nil, err end
      conn:keep_open(until_t - now + 1)
      conn:pump()
      after_io(s, dc, conn)
      loop_turn(s, dc, conn, until_t)
    end
  end
  return true
end

-- Waits on the update path until an update `pred` accepts is among those not yet taken, or
-- `deadline` (monotonic) passes, reading the connection to `dc` (kept open): blocking in
-- conn:poll, in a loop by turns on it like the update reader. -> true | false (deadline) |
-- "reconnected" (a new connection or TCP connection meanwhile: a push may have been lost) |
-- nil, err
local function wait_update(s, pred, dc, deadline)
  local first, err = connection(s, dc)
  if not first then return nil, err end
  local opened = first:connections()
  while true do
    pump(s)
    if s.closed then return nil, closed_error() end
    if upd_of(s):find(pred, true) then return true end
    local conn
    conn, err = connection(s, dc)
    if not conn then return nil, err end
    if conn ~= first or conn:connections() ~= opened then return "reconnected" end
    local now = monotonic()
    if now >= deadline then return false end
    if suspending(s) then
      conn:keep_open(deadline - now + 1)
      conn:pump()
      after_io(s, dc, conn)
      loop_turn(s, dc, conn, s.loop.now() + (deadline - now))
    else
      local ok, perr = conn:poll(deadline - now)
      after_io(s, dc, conn)
      if ok == nil then return nil, errors.from_conn(perr) end
    end
  end
end

-- In a loop with update handlers: one background task per client runs them as updates
-- arrive (the adapter's spawn; without it they run during calls and client:run()). It ends
-- with close().
function start_reader(s)
  local L = s.loop
  if s.reader or s.closed or not L or not L.spawn or not s.upd or #s.upd.handlers == 0 or not L.running() then
    return
  end
  s.reader = true
  L.spawn(function()
    local ok, r, err = pcall(read_updates, s, nil, false)
    s.reader = false
    if not ok or not r then log(s, "warn", "update reader stopped: %s", tostring(ok and err or r)) end
  end)
end

-- client:on_update(fn): fn(update, { users = {...}, chats = {...} }) for each update, in order.
function Client:on_update(fn)
  local s = S(self)
  if type(fn) ~= "function" then argerror(1, "on_update", "expected a function(update, entities)") end
  upd_of(s):on_update(fn)
  start_reader(s)
  return self
end

--- client:get_updates() -> the updates handed to the handlers since the last call, in order (at most
-- updates.MAX_KEPT: the oldest are dropped). Applies what arrived first.
function Client:get_updates()
  local s = S(self)
  pump(s)
  if s.closed then return {} end
  return upd_of(s):take()
end

-- client:stop(): ends client:run() after the handler that calls it (or at once).
function Client:stop()
  S(self).stopped = true
end

-- client:run([seconds]) -> true | nil, err: waits for updates and dispatches them, for
-- `seconds` or until client:stop() or client:close() (forever without an argument). In a
-- loop it suspends the coroutine that calls it; otherwise it blocks.
-- Network failures are logged and retried (the driver reconnects with a backoff).
function Client:run(seconds)
  local s = S(self)
  if seconds ~= nil and (type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds) then
    argerror(1, "run", "expected a number of seconds >= 0 or nil")
  end
  if s.upd and s.upd.dispatching == coroutine.running() then
    error("mtproto: client:run() cannot be called from an update handler", 2)
  end
  s.stopped = false
  if suspending(s) then
    local ok, err = read_updates(s, seconds and s.loop.now() + seconds, true)
    s.stopped = false
    if not ok then return nil, err end
    return true
  end
  local deadline = seconds and monotonic() + seconds
  while true do
    pump(s)
    if s.closed or s.stopped then break end
    local now = monotonic()
    if deadline and now >= deadline then break end
    if not ping_if_due(s, now) then
      local wait = deadline and deadline - now or M.PING_INTERVAL
      if s.next_ping - now < wait then wait = s.next_ping - now end
      local nd = s.upd and s.upd:next_deadline()
      if nd and nd - now < wait then wait = math.max(0, nd - now) end
      local conn, err = connection(s, s.data.home_dc)
      local ok
      if conn then ok, err = conn:poll(wait) end
      if ok == nil then
        err = errors.from_conn(err)
        if err.kind ~= "network" and err.message ~= "TIMEOUT" then return nil, err end
        log(s, "warn", "run: %s; trying again", tostring(err))
        core.conn.sleep(math.min(1, wait))
      end
    end
  end
  s.stopped = false
  return true
end

-- Closes every connection, saves the session and releases its file. Idempotent.
-- -> true | nil, err when the session file does not hold the client's last state.
local function close(self)
  local s = rawget(self, "_s")
  if not s then return end
  if not s.closed then
    s.closed = true -- first: whatever a logger does below, the client is closed
    if s.upd then pcall(s.upd.close, s.upd) end
    for dc, conn in pairs(s.conns) do
      sync(s, dc)
      pcall(forget, s, conn)
      pcall(conn.close, conn)
    end
    -- in a loop, whoever waits on a connection (the update reader, a call) wakes and sees it
    for _, st in pairs(s.links) do
      if st.cond then pcall(st.cond.signal) end
    end
    s.conns, s.nconns, s.dirty = {}, 0, nil
    if s.file then
      pcall(save, s)
      s.file:close()
    end
    log(s, "debug", "closed")
  end
  if s.session_error then return nil, s.session_error end
  return true
end
Client.close = close
ClientMT.__gc = close
ClientMT.__close = close

function ClientMT:__tostring()
  local s = rawget(self, "_s")
  if s.closed then return "mtproto.client (closed)" end
  return string.format("mtproto.client (home DC %d%s%s)", s.data.home_dc,
    s.test_mode and ", test servers" or "", s.path and (", session " .. s.path) or "")
end

-- client.<namespace>.<method> and client.<method>, built lazily from the schema.
-- The request is encoded from a copy of the parameters with _ set: one table kept for every
-- method function, emptied after encoding (encoding never yields). While a call uses it the
-- slot is empty, so a call reached again meanwhile (from a __pairs of the parameters), or
-- the next call after an encode that raised, makes a fresh one.
-- (Each C function a call calls, even type or getmetatable, costs as much as a few dozen
-- table reads here: the checks make one of each.)
local scratch = {}
local Namespace = { __name = "mtproto.namespace" } -- client.<namespace>'s metatable (below)
local function method_fn(self, full)
  return function(params, opts)
    if params == nil then params = {} end
    if type(params) ~= "table" then
      error("mtproto: " .. full .. ": expected a table of parameters, got " .. type(params), 2)
    end
    local pmt = getmetatable(params)
    if pmt == ClientMT or pmt == Namespace then
      error("mtproto: " .. full .. ": call it with a dot: client." .. full .. "{...}", 2)
    end
    local s = self._s -- (self is the client this function was made for: S's first check holds)
    if s.closed then error("mtproto: attempt to use a closed client", 2) end
    if opts ~= nil then check_call_opts(opts, 2, full) end
    local r, e, seen = NOT_DIRECT, nil, nil
    if opts == nil and pmt == nil then r, e, seen = call_direct(s, full, params) end
    if r == NOT_DIRECT then
      local obj = scratch or {}
      scratch = nil
      for k, v in pairs(params) do obj[k] = v end
      obj._ = full
      local method, body = prepare(obj, 2)
      for k in next, obj do obj[k] = nil end
      scratch = obj
      r, e = call_encoded(s, method, body, opts)
    end
    pump(s, r, params, seen)
    return r, e
  end
end

-- (KNOWN_METHODS first: tl.info makes a table of about 1 KiB, which every client looking up
-- each method it uses left as garbage)
local function is_method(name)
  if KNOWN_METHODS[name] then return true end
  local ok, info = pcall(tl.info, name)
  local yes = ok and type(info) == "table" and info.kind == "method"
  if yes then KNOWN_METHODS[name] = true end
  return yes
end

-- The method namespaces of the schema (auth, messages, ...): built once for every client (the
-- schema is fixed; a client each making its own took 0.7 ms and a table per client).
local NAMESPACES
local function namespaces()
  if NAMESPACES then return NAMESPACES end
  local ns = {}
  local list = tl.methods()
  local function add(name)
    if type(name) == "table" then name = name.name end
    if type(name) == "string" then
      local prefix = name:match("^([^.]+)%.")
      if prefix then ns[prefix] = true end
    end
  end
  if #list > 0 then
    for _, n in ipairs(list) do add(n) end
  else
    for k in pairs(list) do add(k) end
  end
  NAMESPACES = ns
  return ns
end

-- client.<namespace>: { _ns = name, _client = client } and the method functions made so far;
-- one metatable for all of them (Namespace, above).

function Namespace:__index(name)
  local full = rawget(self, "_ns") .. "." .. tostring(name)
  if type(name) ~= "string" or not is_method(full) then
    error("mtproto: unknown method " .. full, 2)
  end
  local f = method_fn(rawget(self, "_client"), full)
  rawset(self, name, f)
  return f
end

function Namespace:__tostring() return "mtproto namespace " .. rawget(self, "_ns") end

function ClientMT:__index(k)
  local m = Client[k]
  if m ~= nil then return m end
  if type(k) ~= "string" then return nil end
  S(self)
  if namespaces()[k] then
    local proxy = setmetatable({ _ns = k, _client = self }, Namespace)
    rawset(self, k, proxy)
    return proxy
  end
  if is_method(k) then
    local f = method_fn(self, k)
    rawset(self, k, f)
    return f
  end
  error("mtproto: unknown method " .. k, 2)
end

local function check_opts(o)
  local fname = "mtproto.client"
  if type(o) ~= "table" then argerror(1, fname, "expected a table of options") end
  local function bad(field, msg) argerror(1, fname, field .. ": " .. msg) end
  if math.type(o.api_id) ~= "integer" then bad("api_id", "expected an integer") end
  if o.api_hash ~= nil and type(o.api_hash) ~= "string" then bad("api_hash", "expected a string") end
  if o.dc ~= nil and (math.type(o.dc) ~= "integer" or o.dc < 1 or o.dc > M.MAX_DC) then
    bad("dc", "expected a DC id (integer 1.." .. M.MAX_DC .. ")")
  end
  if o.dc_options ~= nil then
    if type(o.dc_options) ~= "table" then bad("dc_options", "expected a table { [dc] = { host =, port = } }") end
    for id, a in pairs(o.dc_options) do
      if math.type(id) ~= "integer" or type(a) ~= "table" or type(a.host) ~= "string"
          or (a.port ~= nil and (math.type(a.port) ~= "integer" or a.port < 1 or a.port > 65535)) then
        bad("dc_options", "expected { [dc] = { host = string, port = 1..65535 } }")
      end
      if a.host == "" or a.host:find("%z") then
        bad("dc_options", "DC " .. id .. ": expected a host name or address, got " .. string.format("%q", a.host))
      end
    end
  end
  if o.test_mode ~= nil and type(o.test_mode) ~= "boolean" then bad("test_mode", "expected a boolean") end
  if o.rsa_keys ~= nil then
    if type(o.rsa_keys) ~= "table" or #o.rsa_keys == 0 then
      bad("rsa_keys", "expected a non-empty list of PEM strings")
    end
    for _, k in ipairs(o.rsa_keys) do
      if type(k) ~= "string" then bad("rsa_keys", "expected a list of PEM strings") end
    end
  end
  if o.transport ~= nil and not TRANSPORTS[o.transport] then
    bad("transport", "expected \"abridged\", \"intermediate\", \"padded\", \"full\" or \"obfuscated\"")
  end
  if o.session ~= nil then
    local path, why = session_file.options(o.session)
    if not path then bad("session", why) end
  end
  for _, f in ipairs { "timeout", "connect_timeout", "flood_sleep_threshold" } do
    local zero_ok = f == "flood_sleep_threshold" -- 0: never sleep off a FLOOD_WAIT
    if o[f] ~= nil and not is_seconds(o[f], zero_ok) then bad(f, seconds_wanted(o[f], zero_ok)) end
  end
  pfs.check_option(o.pfs, bad)
  if o.log_level ~= nil and not LEVELS[o.log_level] then
    bad("log_level", "expected \"error\", \"warn\", \"info\" or \"debug\"")
  end
  if o.logger ~= nil and type(o.logger) ~= "function" then bad("logger", "expected a function(level, message)") end
  if o.state_save_interval ~= nil and (type(o.state_save_interval) ~= "number" or o.state_save_interval < 0) then
    bad("state_save_interval", "expected a number of seconds >= 0")
  end
  if o.proxy ~= nil then
    local ok, p = pcall(proxies.parse, o.proxy)
    if not ok then bad("proxy", (tostring(p):gsub("^proxy: ", ""))) end
    return p
  end
end

-- What the login module may do with the client (its whole interface to it): host.<name>
-- is LOGIN_HOST[name](s), made the first time the login module asks for it (most clients
-- use a few of them, or none).
local LOGIN_HOST = {
  call = function(s)
    return function(obj, opts)
      -- a login{} callback may have closed the client
      if s.closed then
        return nil, Error.new{ code = -1, message = "CLIENT_CLOSED", method = obj._, is_local = true,
          kind = "final", detail = "the client was closed during the login" }
      end
      return call(s, obj, opts, 3)
    end
  end,
  key_id = function(s)
    return function(dc)
      if s.conns[dc] then sync(s, dc) end
      local d = s.data.dcs[dc]
      return d and d.key_id
    end
  end,
  save = function(s) return function() return save(s) end end,
  log = function(s) return function(level, fmt, ...) return log(s, level, fmt, ...) end end,
  refused = function(s) return function(method) return refused(s, method) end end,
  api = function(s) return function() return s.api_id, s.api_hash end end,
  home_dc = function(s) return function() return s.data.home_dc end end,
  set_home_dc = function(s)
    return function(dc)
      if s.data.home_dc ~= dc then
        log(s, "info", "home DC %d -> %d", s.data.home_dc, dc)
        s.data.home_dc = dc
        save(s)
      end
    end
  end,
  -- the first update `pred` accepts among those not yet taken by get_updates (after the
  -- ones waiting are dispatched), taken out unless `peek`
  take_update = function(s)
    return function(pred, peek)
      pump(s)
      return upd_of(s):find(pred, peek)
    end
  end,
  wait_update = function(s)
    return function(pred, dc, deadline) return wait_update(s, pred, dc, deadline) end
  end,
  monotonic = function() return monotonic end,
  now = function() return core.conn.now end,
  sleep = function(s) return function(t) pause(s, t) end end,
  timeout = function(s) return function() return s.timeout end end,
}

local LoginHost = lazy_host(LOGIN_HOST)

function login_of(s)
  local l = s.login
  if not l then
    l = login.new(setmetatable({ _s = s }, LoginHost), s.data)
    s.login = l
  end
  return l
end

-- The initConnection parameters of options `o`: one (read-only) table shared by the clients
-- that give the same ones, as the clients of one program do. What `o` leaves out (nil or
-- false) and the layer, core.link fills in with the core's defaults (lmt_init_options).
local INIT_FIELDS = { "api_id", "device_model", "system_version", "app_version", "system_lang_code",
  "lang_pack", "lang_code" }
local inits = setmetatable({}, { __mode = "v" })
local last_init = setmetatable({}, { __mode = "v" }) -- .t: the last one returned (as options_mt's)
local function init_params(o)
  local t = last_init.t
  if t then
    for _, f in ipairs(INIT_FIELDS) do
      if not rawequal(o[f] or nil, t[f]) then t = nil; break end
    end
    if t then return t end
  end
  t = {}
  for _, f in ipairs(INIT_FIELDS) do t[f] = o[f] or nil end
  local key = {}
  for i, f in ipairs(INIT_FIELDS) do key[i] = ("s4"):pack(tostring(t[f])) end
  key = table.concat(key)
  local shared = inits[key]
  if not shared then
    shared = t
    inits[key] = t
  end
  last_init.t = shared
  return shared
end

-- The update state of the client, made on first use from the session (a client that is not
-- signed in and gets no update never needs one).
function upd_of(s)
  local u = s.upd
  if not u then
    local data = s.data
    u = updates.new{
      invoke = function(obj) return call(s, obj, nil, 3) end,
      pull = function() pull(s) end,
      log = function(level, fmt, ...) log(s, level, fmt, ...) end,
      clock = monotonic,
      on_change = function() s.upd_dirty = true end,
      self_id = data.user_id, bot = data.bot, state = data.updates, channels = data.channels,
    }
    s.upd = u
  end
  return u
end

-- The metatable of a client's private state for its options `opts` (nil: the default), one
-- for all the clients given the same options, as a program's clients are: tables (dc_options,
-- proxy, the loop) count by identity, rsa_keys by its keys. The options are read only.
local OPTION_FIELDS = { "api_id", "api_hash", "dc_options", "test_mode", "rsa_keys", "transport", "proxy",
  "timeout", "connect_timeout", "flood_sleep_threshold", "state_save_interval", "log_level", "logger", "loop",
  "init", "pfs" }
local option_mts = setmetatable({}, { __mode = "v" })
-- The options every call reads (a read through the metatables costs a look-up per level; the
-- options never change, so a copy in s stays right).
local HOT_OPTIONS = { "timeout", "loop", "pfs", "log_level" }
-- The metatable returned last: a program making many clients gives the same options each
-- time, found again here without building the key (its strings were most of the garbage a
-- new client left: about 3 KiB)
local last = setmetatable({}, { __mode = "v" }) -- .mt
local function same_options(a, b)
  for _, f in ipairs(OPTION_FIELDS) do
    local x, y = rawget(a, f), rawget(b, f)
    if not rawequal(x, y) then
      if f ~= "rsa_keys" or type(x) ~= "table" or type(y) ~= "table" or #x ~= #y then return false end
      for i = 1, #x do
        if not rawequal(x[i], y[i]) then return false end
      end
    end
  end
  return true
end
function options_mt(opts)
  local mt = last.mt
  if mt and same_options(opts, rawget(mt, "__index")) then return mt end
  local key = {}
  for i, f in ipairs(OPTION_FIELDS) do
    local v = opts[f]
    if f == "rsa_keys" and v then
      local pems = {}
      for j, pem in ipairs(v) do pems[j] = ("s4"):pack(pem) end
      v = table.concat(pems)
    end
    key[i] = ("s4"):pack(type(v) .. ":" .. tostring(v))
  end
  key = table.concat(key)
  mt = option_mts[key]
  if not mt then
    mt = { __index = setmetatable(opts, DEFAULTS) }
    option_mts[key] = mt
  end
  last.mt = mt
  return mt
end

--- mtproto.client{...} -> client | nil, err (a session file that cannot be used).
function M.new(o)
  local proxy = check_opts(o)
  local test_mode = o.test_mode or false
  -- (closed, dirty, upd and the HOT_OPTIONS are set here so that reading them, on every
  -- call, finds them in s and does not walk the metatables of the options; nconns counts
  -- the entries of conns)
  local s = setmetatable({ conns = {}, links = setmetatable({}, WEAK_KEYS), nconns = 0, closed = false,
    dirty = false, upd = false }, options_mt{
    api_id = o.api_id, api_hash = o.api_hash, dc_options = o.dc_options, test_mode = test_mode or nil,
    rsa_keys = o.rsa_keys, transport = o.transport, proxy = proxy,
    timeout = o.timeout, connect_timeout = o.connect_timeout, flood_sleep_threshold = o.flood_sleep_threshold,
    state_save_interval = o.state_save_interval,
    log_level = o.log_level and LEVELS[o.log_level] or false, logger = o.logger,
    loop = o.loop ~= nil and loops.adapter(o.loop) or false, init = init_params(o), pfs = pfs.settings(o.pfs),
  })
  for _, f in ipairs(HOT_OPTIONS) do s[f] = s[f] end
  local data
  if o.session ~= nil then
    local secret
    s.path, secret = session_file.options(o.session)
    local file, err = session_file.open(s.path, secret)
    if not file then return nil, err end
    data = file.data
    if not data.new and data.test_mode ~= test_mode then
      file:close()
      return nil, Error.new{ code = 0, message = "SESSION_MISMATCH", is_local = true, kind = "final",
        detail = s.path .. ": the session was made for " .. (data.test_mode and "the test servers" or "production") ..
          " but test_mode is " .. tostring(test_mode) .. "; it was left untouched" }
    end
    s.file = file
  else
    data = { dcs = {}, new = true }
  end
  data.new = nil
  data.home_dc = data.home_dc or o.dc or 2
  data.test_mode = test_mode
  data.bot = data.bot or false
  s.data = data
  -- a session with a user or a saved update state has its update state from the start
  if data.user_id or data.updates or data.channels then upd_of(s) end
  local self = setmetatable({ _s = s }, ClientMT)
  if s.file and s.file.stale_removed > 0 then
    log(s, "info", "removed %d stale temporary file(s) of %s", s.file.stale_removed, s.path)
  end
  log(s, "debug", "client created (home DC %d%s)", data.home_dc, s.path and ", session file" or "")
  return self
end

--- client:login_state() -> { state = ..., fields of that state } (see mtproto.login)
function Client:login_state()
  return login_of(S(self)):state()
end

-- The login steps: client:send_code(...) is the login record's send_code(...).
for _, name in ipairs(login.METHODS) do
  Client[name] = function(self, ...)
    local l = login_of(S(self))
    return l[name](l, ...)
  end
end

setmetatable(M, { __call = function(_, o) return M.new(o) end })

return M
