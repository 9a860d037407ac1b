-- examples/login.lua: the login-code flow with mtproto.client, step by step.
--
--   auth.sendCode, then auth.resendCode until the server says SEND_CODE_UNAVAILABLE
--   (printing each auth.SentCode), then auth.signIn with the code.
--
-- From the shell (options from the environment):
--   MTPROTO_API_ID=... MTPROTO_API_HASH=... lua5.4 examples/login.lua +15550001111
--   MTPROTO_DC_OPTIONS="1=127.0.0.1:10001,2=127.0.0.1:10002"   addresses per DC (optional)
--   MTPROTO_RSA_PEM=file    the server's public key (optional; default: Telegram's keys)
--   MTPROTO_TEST_MODE=1     the Telegram test servers
--   MTPROTO_TRANSPORT=padded|intermediate|abridged|full|obfuscated
--   MTPROTO_CODE=12345      the login code (else: asked on stdin; test numbers 99966XYYYY: X five times)
-- From Lua (examples/demo.lua does this against the local test DC):
--   assert(loadfile("examples/login.lua"))({ client = { api_id = ..., ... }, phone = "...", code = "..." })
-- Returns true, or false and the error; from the shell the exit status says the same.
local mtproto = require("mtproto")
local pretty = require("mtproto.pretty")

local function out(fmt, ...) io.write(string.format(fmt, ...), "\n"); io.flush() end

-- Options from the environment and the command line.
local function from_env(argv)
  local o = {
    api_id = math.tointeger(tonumber(os.getenv("MTPROTO_API_ID") or "")),
    api_hash = os.getenv("MTPROTO_API_HASH"),
    test_mode = os.getenv("MTPROTO_TEST_MODE") == "1" or nil,
    transport = os.getenv("MTPROTO_TRANSPORT"),
  }
  local dcs = os.getenv("MTPROTO_DC_OPTIONS")
  if dcs then
    o.dc_options = {}
    for id, host, port in dcs:gmatch("(%d+)=%[?([^,%]]+)%]?:(%d+)") do
      o.dc_options[tonumber(id)] = { host = host, port = tonumber(port) }
    end
  end
  local pem = os.getenv("MTPROTO_RSA_PEM")
  if pem then
    local f = assert(io.open(pem, "rb"))
    o.rsa_keys = { f:read("a") }
    f:close()
  end
  if not o.api_id or not o.api_hash then
    error("set MTPROTO_API_ID and MTPROTO_API_HASH (see the top of examples/login.lua)", 0)
  end
  return { client = o, phone = argv[1] or os.getenv("MTPROTO_PHONE"), code = os.getenv("MTPROTO_CODE") }
end

-- The code: given, else the test-number convention, else asked for.
local function code_for(opts, phone)
  if opts.code then return opts.code end
  local x = phone:gsub("^%+", ""):match("^99966(%d)%d%d%d%d$")
  if x then return x:rep(5) end
  io.write("code: ")
  io.flush()
  return io.read("l")
end

local function describe_sent(label, r)
  local text = pretty(r):gsub("\n", "\n    ")
  out("%s:\n    %s", label, text)
  local t = r.type and r.type._ or "?"
  local how = ({
    ["auth.sentCodeTypeApp"] = "in the Telegram app",
    ["auth.sentCodeTypeSms"] = "by SMS",
    ["auth.sentCodeTypeCall"] = "by a phone call",
    ["auth.sentCodeTypeFlashCall"] = "by a flash call from " .. tostring(r.type and r.type.pattern),
  })[t] or t
  local nxt = r.next_type and r.next_type._:gsub("^auth%.codeType", "") or nil
  out("    -> the code was sent %s%s", how,
    nxt and string.format("; next way: %s, after %s s", nxt, tostring(r.timeout)) or "; no other way left")
end

local function run(opts)
  local client = assert(mtproto.client(opts.client))
  local phone = assert(opts.phone, "no phone number given")
  local api_id, api_hash = opts.client.api_id, opts.client.api_hash or ""
  local ok, err = pcall(function()
    out("auth.sendCode %s", phone)
    local sent, e = client.auth.sendCode{ phone_number = phone, api_id = api_id, api_hash = api_hash,
      settings = { _ = "codeSettings" } }
    if not sent then error(e, 0) end
    describe_sent("auth.sentCode", sent)
    local info = client:session_info()
    out("    (answered by DC %s: the client follows PHONE_MIGRATE_X by itself)", tostring(info.home_dc))
    local hash = sent.phone_code_hash
    for i = 1, 10 do
      out("auth.resendCode #%d", i)
      local again, e2 = client.auth.resendCode{ phone_number = phone, phone_code_hash = hash }
      if not again then
        if e2.message == "SEND_CODE_UNAVAILABLE" then
          out("    -> %d %s: every way of sending the code has been used", e2.code, e2.message)
          break
        end
        error(e2, 0)
      end
      describe_sent("auth.sentCode", again)
      hash = again.phone_code_hash
    end
    local code = code_for(opts, phone)
    out("auth.signIn with code %s", code)
    local auth, e3 = client.auth.signIn{ phone_number = phone, phone_code_hash = hash, phone_code = code }
    if not auth then error(e3, 0) end
    local u = auth.user or {}
    out("signed in as %s (id %s, phone %s)", tostring(u.first_name), tostring(u.id), tostring(u.phone))
    out("%s", pretty(auth))
  end)
  client:close()
  if not ok then
    out("login failed: %s", tostring(err))
    return false, err
  end
  return true
end

local opts = ...
if type(opts) == "table" then return run(opts) end
local ok = run(from_env(arg or {}))
os.exit(ok and 0 or 1)
