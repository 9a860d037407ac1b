-- Our side of the network rows of `make bench` (bench/gramjs_net.js is GramJS's), against a
-- running mtproto-testdc. Run by bench/run.lua:
--
--   lua5.4 bench/net.lua @args.json
--
-- args: the test DC's start-up JSON (host, ports, rsa_public_pem) plus mode ("handshake",
-- "first_call", "seq" or "pipe"), n, window (calls in flight for "pipe": invoke_all over batches of
-- this size, as GramJS's Promise.all batches), transport (default "padded"), dc (default 2),
-- proxy (the `proxy` option of mtproto.client: every call through that proxy).
-- Prints the same `name value` lines as bench/gramjs_net.js. CPU is os.clock() (this
-- process's user+system time), peak memory VmHWM of /proc/self/status.
local mtproto = require("mtproto")
local core = require("mtproto.core")

local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local args = common.read_args()
local mode = args.mode or "seq"
local dc = math.tointeger(args.dc or 2)

local status_kb = common.status_kb

local function new_client(pfs)
  local opts = {}
  for id, port in pairs(args.ports) do
    opts[math.tointeger(tonumber(id))] = { host = args.host, port = math.tointeger(port) }
  end
  return assert(mtproto.client{
    api_id = 1, api_hash = "0123456789abcdef0123456789abcdef", dc = dc, dc_options = opts,
    rsa_keys = { args.rsa_public_pem }, transport = args.transport or "padded",
    flood_sleep_threshold = 0, timeout = 30, proxy = args.proxy, pfs = pfs or false,
  })
end

local now = core.conn.monotonic

local function handshakes(n)
  local function one()
    local c = new_client()
    assert(c:connection(dc))
    c:close()
  end
  one()
  local c0, t0 = os.clock(), now()
  for _ = 1, n do one() end
  print(("handshake.client_cpu_ms %.3f"):format((os.clock() - c0) * 1000 / n))
  print(("handshake.wall_ms %.3f"):format((now() - t0) * 1000 / n))
end

-- The i-th ordinary test number of DC dc: 99966 X K YYY with K one of 0, 1, 5, 9 (the other
-- kind digits choose the test DC's special logins: password, sign-up, email, paid, missed call).
local ORDINARY_KINDS = { 0, 1, 5, 9 }
local function test_phone(dc_id, i)
  i = i % 4000
  return ("99966%d%d%03d"):format(dc_id, ORDINARY_KINDS[i // 1000 + 1], i % 1000)
end

-- The first call of a new client (no session): its keys, then help.getNearestDc; without pfs
-- (one handshake) and with it (a permanent key, a temporary key and the bind).
local function first_calls(n)
  for _, pfs in ipairs { false, true } do
    local function one()
      local c = new_client(pfs)
      assert(c.help.getNearestDc{})
      c:close()
    end
    one()
    local c0 = os.clock()
    for _ = 1, n do one() end
    print(("first_call.%s_client_cpu_ms %.3f"):format(pfs and "pfs" or "plain", (os.clock() - c0) * 1000 / n))
  end
end

local function calls(n, window)
  local client = new_client()
  local phones = (n + 2) // 3
  assert(phones <= 4000, "at most 12000 calls (4000 ordinary test numbers per DC)")
  local base = math.random(0, 3999)
  local state = {}
  for i = 1, phones, 256 do
    local batch, list = {}, {}
    for j = i, math.min(phones, i + 255) do
      local phone = test_phone(dc, base + j)
      batch[#batch + 1] = phone
      list[#list + 1] = { _ = "auth.sendCode", phone_number = phone, api_id = 1,
        api_hash = "0123456789abcdef0123456789abcdef", settings = { _ = "codeSettings" } }
    end
    local res = client:invoke_all(list)
    for k, r in ipairs(res) do
      assert(r._ == "auth.sentCode", "auth.sendCode failed: " .. tostring(r.message or r._))
      state[i + k - 1] = { phone = batch[k], hash = r.phone_code_hash }
    end
  end
  local errors = 0
  local function request(k)
    local st = state[(k - 1) % phones + 1]
    return { _ = "auth.resendCode", phone_number = st.phone, phone_code_hash = st.hash }, st
  end
  local function account(r, st)
    if type(r) == "table" and r._ == "auth.sentCode" then
      st.hash = r.phone_code_hash
    else
      errors = errors + 1
    end
  end
  collectgarbage()
  local rss0 = status_kb("VmRSS")
  local c0, t0 = os.clock(), now()
  if window <= 1 then
    local resend = client.auth.resendCode
    for k = 1, n do
      local st = state[(k - 1) % phones + 1]
      account(resend{ phone_number = st.phone, phone_code_hash = st.hash }, st)
    end
  else
    for k = 1, n, window do
      local list, sts = {}, {}
      for j = k, math.min(n, k + window - 1) do
        list[#list + 1], sts[#sts + 1] = request(j)
      end
      for i, r in ipairs(client:invoke_all(list)) do account(r, sts[i]) end
    end
  end
  local dt, dcpu = now() - t0, os.clock() - c0
  local hwm = status_kb("VmHWM")
  print(("net.%s_calls_per_s %.1f"):format(mode, n / dt))
  print(("net.%s_cpu_us_per_call %.2f"):format(mode, dcpu * 1e6 / n))
  print(("net.%s_maxrss_kb %d"):format(mode, hwm))
  print(("net.%s_rss_bytes_per_call %.1f"):format(mode, math.max(0, (hwm - rss0) * 1024 / n)))
  print(("net.%s_errors %d"):format(mode, errors))
  client:close()
end

math.randomseed(os.time(), math.floor(os.clock() * 1e6))
if mode == "handshake" then
  handshakes(math.tointeger(args.n or 20))
elseif mode == "first_call" then
  first_calls(math.tointeger(args.n or 20))
elseif mode == "seq" then
  calls(math.tointeger(args.n or 2000), 1)
elseif mode == "pipe" then
  calls(math.tointeger(args.n or 10000), math.tointeger(args.window or 256))
else
  error("unknown mode " .. tostring(mode))
end
