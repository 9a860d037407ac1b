--- mtproto.testdc: start and stop a local test DC (the `mtproto-testdc` program).
--
--   local dc = require("mtproto.testdc").start{ dcs = 3, faults = { bad_salt = true } }
--   local client = mtproto.client(dc:client_options{ api_id = 1, api_hash = "x" })
--   ...
--   dc:stop()            -- also on __close / __gc
--
-- start{...} options (all optional):
--   dcs = 3               number of DCs (1..5), each on its own port
--   port = 0              first port (0: free ports chosen by the system)
--   host = "127.0.0.1"    IPv4 address; host6 = "::1" ("" for no IPv6)
--   key = path            RSA private key file (PEM), generated there when missing
--   code_lifetime = 300   seconds a phone_code_hash stays valid
--   resend_timeout = 120  auth.sentCode.timeout
--   flood = 10            auth.resendCode calls per hash per second before 420 FLOOD_WAIT
--                         (false or 0: no limit)
--   qr_lifetime = 30      seconds a QR login token (auth.exportLoginToken) stays valid
--   qr_auto_accept = phone  the account of this test number accepts every QR token at once
--   temp_key_ttl = S      temporary (PFS) keys expire after at most S seconds (default: their
--                         expires_in); an expired key is forgotten (-404)
--   (the test numbers and their login states: see src/testdc/tdc_login.c and the README)
--   faults = { bad_salt = true, new_session = true, gzip = true, update_first = true,
--              garbage = true, clock_offset = S, delay_ms = N, drop_after = N,
--              -- hostile servers:
--              replay = true, nested_container = true, gzip_bomb = true, huge_frame = true,
--              stall_after = N, cut_after = N, strict_seqno = true, skip_pts = N }
--     bad_salt      a new key starts with a salt the client does not know: bad_server_salt
--     new_session   every answer in a container after a new_session_created
--     gzip          answers gzip_packed
--     update_first  an updatesTooLong (msg_id 3 mod 4) before each answer
--     garbage       a packet with the right auth_key_id and a wrong msg_key before each answer
--     clock_offset  the server clock is S seconds ahead (bad_msg_notification 16/17 for old ids)
--     delay_ms      answers are written N ms late (msgs_ack at once)
--     drop_after    the first connection of a session is closed after N requests, unanswered
--     replay        the previous answer packet again, byte for byte, before each answer
--     nested_container  a container in a container (rpc_error 500 NESTED_CONTAINER_ACCEPTED
--                   for the request) before each answer
--     gzip_bomb     once per session: an rpc_result whose gzip_packed inflates to 17 MiB,
--                   before the answer
--     huge_frame    once per session: a frame header claiming 32 MiB, then close (not obfuscated)
--     stall_after   once per session: after N requests, nothing more on that connection
--     cut_after     once per session: after N requests, half the answer frame, then close
--     strict_seqno  a msgs_ack with an odd seqno gets bad_msg_notification 34 (by default the
--                   test DC accepts it, as Telegram does)
--     skip_pts      the push timer logs every Nth update but does not push it: a gap the
--                   client has to fill with updates.getDifference
--   The once-per-session faults keep the answers: a client that reconnects and re-sends the
--   requests in the same session gets each answered once.
--   push_updates = N      every N ms, a new message from user 777000 for each signed-in account
--                         with a connection, pushed as updateShortMessage and updates in turn
--   diff_slice = 100      updates per updates.getDifference answer (more: differenceSlice)
--   mtproxy = "secret"    an MTProxy listener too, for this secret (32 hex digits: the same 16
--                         bytes serve plain, "dd" and "ee" clients); dc.mtproxy_port is its
--                         port and dc:proxy_url(kind [, domain]) a tg://proxy link to it
--   mtproxy_any_hello = true  the listener takes fake-TLS hellos of 512..16384 bytes, as
--                         MTProxy servers other than Telegram's do (default: 16 03 01 02 only)
--   io_uring = false      the server waits with epoll even where io_uring works (by default it
--                         takes io_uring when the system lets it: one system call per request
--                         answered at once instead of three); dc.loop says which runs
--   verbose = 0|1|2       log lines of the server (-v / -vv): one per message, on stderr
--   log = path            write the server's stderr (the log lines) to this file instead
--   binary = path         the program; default testdc.binary(): $MTPROTO_TESTDC, the built or installed one, PATH
--
-- The server is tied to this Lua process: it exits when the process is gone (it watches its
-- parent pid), so a crashed spec never leaves it running.
-- @module mtproto.testdc
local M = {}

local DC = {}
DC.__index = DC
DC.__name = "mtproto.testdc"

local FAULTS = {
  bad_salt = "boolean", new_session = "boolean", gzip = "boolean", update_first = "boolean",
  garbage = "boolean", clock_offset = "number", delay_ms = "number", drop_after = "number",
  replay = "boolean", nested_container = "boolean", gzip_bomb = "boolean", huge_frame = "boolean",
  stall_after = "number", cut_after = "number", strict_seqno = "boolean", skip_pts = "number",
}

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function bad(name, msg)
  error(("bad argument #1 to 'start' (%s: %s)"):format(name, msg), 3)
end

local function int_opt(o, name, lo, hi)
  local v = o[name]
  if v == nil then return nil end
  if math.type(v) ~= "integer" or v < lo or v > hi then
    bad(name, ("expected an integer in %d..%d"):format(lo, hi))
  end
  return v
end

-- Parses the start-up JSON line (fixed shape, written by the server) without a JSON library.
local function parse_line(line)
  local info = { ports = {}, ports6 = {} }
  info.host = line:match('"host":"([^"]*)"')
  info.host6 = line:match('"host6":"([^"]*)"')
  local ports = line:match('"ports":(%b{})')
  local ports6 = line:match('"ports6":(%b{})')
  if not info.host or not ports then return nil end
  for k, v in ports:gmatch('"(%d+)":(%d+)') do info.ports[tonumber(k)] = tonumber(v) end
  for k, v in (ports6 or ""):gmatch('"(%d+)":(%d+)') do info.ports6[tonumber(k)] = tonumber(v) end
  local pem = line:match('"rsa_public_pem":"([^"]*)"')
  info.pem = pem and pem:gsub("\\n", "\n")
  info.fingerprint = line:match('"fingerprint":"(%-?%d+)"')
  info.pid = tonumber(line:match('"pid":(%d+)'))
  info.mtproxy_port = tonumber(line:match('"mtproxy_port":(%d+)'))
  info.loop = line:match('"loop":"([%w_]+)"')
  if not info.pem or not info.fingerprint or not info.pid then return nil end
  return info
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Builds the command line from the options (raises on bad ones).
local function command(o)
  local args = {}
  local function add(...) for _, a in ipairs{ ... } do args[#args + 1] = quote(a) end end
  local dcs = int_opt(o, "dcs", 1, 5)
  if dcs then add("--dcs", dcs) end
  local port = int_opt(o, "port", 0, 65530)
  if port then add("--port", port) end
  if o.host ~= nil then
    if type(o.host) ~= "string" then bad("host", "expected a string") end
    add("--host", o.host)
  end
  if o.host6 ~= nil then
    if type(o.host6) ~= "string" then bad("host6", "expected a string") end
    add("--host6", o.host6)
  end
  if o.key ~= nil then
    if type(o.key) ~= "string" or o.key == "" then bad("key", "expected a file name") end
    add("--key", o.key)
  end
  local life = int_opt(o, "code_lifetime", 1, 86400 * 365)
  if life then add("--code-lifetime", life) end
  local rt = int_opt(o, "resend_timeout", 0, 86400)
  if rt then add("--resend-timeout", rt) end
  local ql = int_opt(o, "qr_lifetime", 1, 86400)
  if ql then add("--qr-lifetime", ql) end
  local ttl = int_opt(o, "temp_key_ttl", 1, 86400 * 365)
  if ttl then add("--temp-key-ttl", ttl) end
  if o.qr_auto_accept ~= nil then
    if type(o.qr_auto_accept) ~= "string" or not o.qr_auto_accept:match("^99966%d%d%d%d%d$") then
      bad("qr_auto_accept", "expected a test number 99966XKYYY")
    end
    add("--qr-auto-accept", o.qr_auto_accept)
  end
  if o.flood == false then
    add("--no-flood")
  elseif o.flood ~= nil then
    add("--flood", int_opt(o, "flood", 0, 64))
  end
  local push = int_opt(o, "push_updates", 0, 3600000)
  if push then add("--push-updates", push) end
  local slice = int_opt(o, "diff_slice", 1, 256)
  if slice then add("--diff-slice", slice) end
  if o.faults ~= nil then
    if type(o.faults) ~= "table" then bad("faults", "expected a table") end
    for name, v in pairs(o.faults) do
      local want = FAULTS[name]
      if not want then bad("faults", "unknown fault " .. tostring(name)) end
      if want == "boolean" then
        if type(v) ~= "boolean" then bad("faults." .. name, "expected a boolean") end
        if v then add("--fault", name) end
      else
        if math.type(v) ~= "integer" then bad("faults." .. name, "expected an integer") end
        add("--fault", name .. "=" .. v)
      end
    end
  end
  if o.mtproxy ~= nil then
    if type(o.mtproxy) ~= "string" or not o.mtproxy:match("^%x+$") or #o.mtproxy ~= 32 then
      bad("mtproxy", "expected a secret of 32 hex digits")
    end
    add("--mtproxy", o.mtproxy)
    if o.mtproxy_any_hello then add("--mtproxy-any-hello") end
  end
  if o.io_uring ~= nil then
    if type(o.io_uring) ~= "boolean" then bad("io_uring", "expected a boolean") end
    if not o.io_uring then add("--no-io-uring") end
  end
  local verbose = int_opt(o, "verbose", 0, 2)
  if verbose == 1 then add("-v") elseif verbose == 2 then add("-vv") end
  return table.concat(args, " "), verbose and verbose > 0
end

local function is_file(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The test DC program `start` runs when no `binary` is given: `$MTPROTO_TESTDC`, else the one
--- built or installed with this module (`build/mtproto-testdc` beside `build/mtproto/core.so`;
-- `<tree>/bin/mtproto-testdc` beside `<tree>/lib/lua/5.4/mtproto/core.so` for a rock), else
-- `mtproto-testdc` on PATH.
-- @treturn string a path or a program name
function M.binary()
  local env = os.getenv("MTPROTO_TESTDC")
  if env and env ~= "" then return env end
  local so = package.searchpath("mtproto.core", package.cpath)
  local dir = so and so:match("^(.*)/mtproto/core%.so$")
  if dir then
    local tree = dir:match("^(.*)/lib/lua/[%d.]+$")
    for _, path in ipairs{ dir .. "/mtproto-testdc", tree and (tree .. "/bin/mtproto-testdc") } do
      if is_file(path) then return path end
    end
  end
  return "mtproto-testdc"
end

--- dc = testdc.start{...} -> a running test DC, or nil, err (a string).
function M.start(o)
  if o ~= nil and type(o) ~= "table" then
    error("bad argument #1 to 'start' (table expected, got " .. type(o) .. ")", 2)
  end
  o = o or {}
  local bin = o.binary or M.binary()
  if type(bin) ~= "string" or bin == "" then bad("binary", "expected a path") end
  local args, verbose = command(o)
  if o.log ~= nil and (type(o.log) ~= "string" or o.log == "") then bad("log", "expected a file name") end
  local errfile = o.log or os.tmpname()
  -- exec: the server replaces the shell, so its parent is this Lua process ($PPID of the shell)
  local cmd = ("exec %s %s --no-stdin --parent-pid $PPID </dev/null %s"):format(
    quote(bin), args, (verbose and not o.log) and "" or ("2>" .. quote(errfile)))
  local p, perr = io.popen(cmd, "r")
  if not p then
    if not o.log then os.remove(errfile) end
    return nil, "cannot start " .. bin .. ": " .. tostring(perr)
  end
  local line = p:read("l")
  local info = line and parse_line(line)
  if not info then
    p:close()
    local msg = slurp(errfile):gsub("%s+$", "")
    if not o.log then os.remove(errfile) end
    return nil, "mtproto-testdc did not start (" .. bin .. ")" .. (msg ~= "" and (": " .. msg) or "")
  end
  local dc = setmetatable({
    host = info.host, host6 = info.host6, ports = info.ports, ports6 = info.ports6,
    pem = info.pem, fingerprint = info.fingerprint, pid = info.pid,
    dcs = #info.ports, _pipe = p, _errfile = not o.log and errfile or nil, line = line,
    mtproxy_port = info.mtproxy_port, mtproxy_secret = o.mtproxy, loop = info.loop,
  }, DC)
  return dc
end

--- dc_options for mtproto.client: { [dc] = { host =, port = } }.
function DC:options(v6)
  local t = {}
  for i, port in pairs(v6 and self.ports6 or self.ports) do
    t[i] = { host = v6 and self.host6 or self.host, port = port }
  end
  return t
end

--- A tg://proxy link to the MTProxy listener: kind "plain", "dd" or "ee" (with `domain`,
-- default "example.com"), the secret in hex.
function DC:proxy_url(kind, domain)
  if not self.mtproxy_port then error("this test DC was started without mtproxy = secret", 2) end
  local secret = self.mtproxy_secret
  if kind == "dd" then
    secret = "dd" .. secret
  elseif kind == "ee" then
    secret = "ee" .. secret .. (domain or "example.com"):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  elseif kind ~= "plain" then
    error("bad argument #1 to 'proxy_url' (expected \"plain\", \"dd\" or \"ee\")", 2)
  end
  return ("tg://proxy?server=%s&port=%d&secret=%s"):format(self.host, self.mtproxy_port, secret)
end

--- The options of mtproto.client for this DC, merged into `extra` (copied).
function DC:client_options(extra)
  local t = {}
  for k, v in pairs(extra or {}) do t[k] = v end
  if t.dc_options == nil then t.dc_options = self:options() end
  if t.rsa_keys == nil then t.rsa_keys = { self.pem } end
  if t.api_id == nil then t.api_id = 1 end
  if t.api_hash == nil then t.api_hash = "testdc" end
  return t
end

--- Stops the server and waits for it (idempotent).
function DC:stop()
  local p = rawget(self, "_pipe")
  if not p then return true end
  self._pipe = nil
  os.execute("kill " .. math.tointeger(self.pid) .. " 2>/dev/null")
  p:close()
  if self._errfile then os.remove(self._errfile) end
  return true
end

--- dc:running() -> whether the server is still running (not stopped).
function DC:running()
  return rawget(self, "_pipe") ~= nil
end

DC.__close = DC.stop
DC.__gc = DC.stop
function DC.__tostring(self)
  local ps = {}
  for i = 1, #self.ports do ps[i] = tostring(self.ports[i]) end
  return ("mtproto.testdc (%s:%s%s)"):format(self.host, table.concat(ps, ","),
    rawget(self, "_pipe") and "" or ", stopped")
end

return M
