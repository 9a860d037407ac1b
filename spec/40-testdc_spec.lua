-- mtproto-testdc and mtproto.testdc: start/stop, the JSON line, the login flow and its
-- errors over real loopback TCP (core.conn + mtproto.tl) on every transport, several DCs
-- with PHONE_MIGRATE, and the fault switches.
local helpers = require("helpers")
local testdc = require("mtproto.testdc")
local tl = require("mtproto.tl")
local core = require("mtproto.core")

local hex, unhex = helpers.hex, helpers.unhex
local call = helpers.call

local function send_code(conn, phone)
  return call(conn, { _ = "auth.sendCode", phone_number = phone, api_id = helpers.API_ID,
    api_hash = helpers.API_HASH, settings = { _ = "codeSettings" } })
end

local function resend(conn, phone, hash)
  return call(conn, { _ = "auth.resendCode", phone_number = phone, phone_code_hash = hash })
end

local function sign_in(conn, phone, hash, code)
  return call(conn, { _ = "auth.signIn", phone_number = phone, phone_code_hash = hash, phone_code = code })
end

local function assert_error(code, message, r, err)
  assert.is_nil(r)
  assert.is_table(err)
  assert.same({ code, message }, { err.code, err.message })
end

-- Raw bytes of auth.sentCode with `hash` in the place of the golden answers' hash
-- (TELEGRAM.md: the Sms/Call answer and the FlashCall answer, byte for byte).
local function golden_sent(kind, hash)
  local h = string.char(#hash) .. hash .. string.rep("\0", (4 - (1 + #hash) % 4) % 4)
  if kind == "App" then
    return unhex("02 25 00 5e 06 00 00 00 86 59 bb 3d 05 00 00 00") .. h .. unhex("8c 15 a3 72 78 00 00 00")
  elseif kind == "Sms" then
    return unhex("02 25 00 5e 06 00 00 00 a2 bb 00 c0 05 00 00 00") .. h .. unhex("e3 d3 1c 74 78 00 00 00")
  elseif kind == "Call" then
    return unhex("02 25 00 5e 06 00 00 00 a7 e5 53 53 05 00 00 00") .. h .. unhex("fb ce 6c 22 78 00 00 00")
  else
    return unhex("02 25 00 5e 00 00 00 00 d9 c6 03 ab 08 2b 31 35 35 35 2a 2a 2a 00 00 00") .. h
  end
end

describe("mtproto.testdc", function()
  it("starts, prints its JSON line and stops", function()
    local dc = helpers.start_testdc{ dcs = 3 }
    assert.equal("127.0.0.1", dc.host)
    assert.equal(3, dc.dcs)
    local seen = {}
    for i = 1, 3 do
      assert.is_true(math.type(dc.ports[i]) == "integer" and dc.ports[i] > 0 and dc.ports[i] < 32768)
      assert.is_nil(seen[dc.ports[i]])
      seen[dc.ports[i]] = true
    end
    assert.matches("^%-%-%-%-%-BEGIN RSA PUBLIC KEY%-%-%-%-%-\n.*\n%-%-%-%-%-END RSA PUBLIC KEY%-%-%-%-%-\n$", dc.pem)
    assert.matches("^%-?%d+$", dc.fingerprint)
    assert.equal(dc.fingerprint, tostring(core.auth.rsa_fingerprint(dc.pem)))
    assert.matches('^{"host":"127.0.0.1","ports":{"1":%d+,"2":%d+,"3":%d+},"ports6":{', dc.line)
    assert.same({ [1] = { host = "127.0.0.1", port = dc.ports[1] }, [2] = { host = "127.0.0.1", port = dc.ports[2] },
      [3] = { host = "127.0.0.1", port = dc.ports[3] } }, dc:options())
    assert.matches("^mtproto.testdc %(127.0.0.1:%d+,%d+,%d+%)$", tostring(dc))
    assert.is_true(helpers.alive(dc.pid))
    assert.is_true(dc:stop())
    assert.is_false(helpers.alive(dc.pid))
    assert.is_true(dc:stop()) -- idempotent
    assert.matches("stopped", tostring(dc))
  end)

  it("stops at the end of a to-be-closed variable", function()
    local pid
    do
      local dc <close> = helpers.start_testdc{ dcs = 1 }
      pid = dc.pid
      assert.is_true(helpers.alive(pid))
    end
    assert.is_false(helpers.alive(pid))
  end)

  it("uses the --key file: the same key on every start", function()
    local a = helpers.start_testdc{ dcs = 1 }
    local b = helpers.start_testdc{ dcs = 1 }
    assert.equal(a.fingerprint, b.fingerprint)
    assert.equal(a.pem, b.pem)
    a:stop(); b:stop()
  end)

  it("raises on bad options and returns nil, err when the program cannot start", function()
    assert.has_error(function() testdc.start{ dcs = 0 } end, "bad argument #1 to 'start' (dcs: expected an integer in 1..5)")
    assert.has_error(function() testdc.start{ faults = { nope = true } } end,
      "bad argument #1 to 'start' (faults: unknown fault nope)")
    assert.has_error(function() testdc.start{ faults = { delay_ms = "x" } } end,
      "bad argument #1 to 'start' (faults.delay_ms: expected an integer)")
    assert.has_error(function() testdc.start(5) end, "bad argument #1 to 'start' (table expected, got number)")
    local dc, err = testdc.start{ binary = "/nonexistent/mtproto-testdc" }
    assert.is_nil(dc)
    assert.matches("did not start", err)
  end)

  it("exits on EOF of stdin and on SIGTERM (the program itself)", function()
    local bin = helpers.TESTDC
    local key = helpers.key_file()
    -- stdin at EOF: the JSON line, then it exits by itself (close waits for it)
    local p = assert(io.popen(("exec '%s' --dcs 1 --key '%s' </dev/null"):format(bin, key)))
    local line = p:read("l")
    assert.matches('"pid":%d+}$', line)
    assert.is_true(p:close())
    -- SIGTERM: exit status 0
    local dir = os.tmpname()
    p = assert(io.popen(("exec '%s' --dcs 1 --key '%s' --no-stdin </dev/null"):format(bin, key)))
    line = p:read("l")
    local pid = tonumber(line:match('"pid":(%d+)'))
    os.execute("kill -TERM " .. pid)
    assert.is_true(p:close())
    os.remove(dir)
  end)

  it("exits when the Lua process that started it is gone", function()
    local lua = helpers.LUA
    local script = [[
      local dc = assert(require("mtproto.testdc").start{ dcs = 1, key = ]] .. string.format("%q", helpers.key_file()) .. [[ })
      io.write(dc.pid, "\n") io.flush()
      os.exit(0, false)
    ]]
    local p = assert(io.popen(lua .. " -e " .. string.format("%q", script):gsub("\\\n", "\n"):gsub("%$", "\\$")))
    local pid = tonumber(p:read("l"))
    p:close()
    assert.is_number(pid)
    assert.is_true(helpers.eventually(function() return not helpers.alive(pid) end, 10))
  end)
end)

describe("mtproto-testdc login flow over core.conn", function()
  local T = helpers.use_testdc{ dcs = 3 }

  for _, transport in ipairs { "abridged", "intermediate", "padded", "full", "obfuscated" } do
    it("serves the handshake and every auth.sentCode step over " .. transport, function()
      local conn = helpers.conn(T.dc, 2, { transport = transport })
      local phone = "+15550001111"
      local r, raw = send_code(conn, phone)
      assert.equal("auth.sentCode", r._)
      assert.same({ _ = "auth.sentCodeTypeApp", length = 5 }, r.type)
      assert.matches("^%x+$", r.phone_code_hash)
      assert.equal(32, #r.phone_code_hash)
      assert.same({ _ = "auth.codeTypeSms" }, r.next_type)
      assert.equal(120, r.timeout)
      local hash = r.phone_code_hash
      assert.equal(hex(golden_sent("App", hash)), hex(raw))
      for _, kind in ipairs { "Sms", "Call", "FlashCall" } do
        r, raw = resend(conn, phone, hash)
        assert.equal(hex(golden_sent(kind, hash)), hex(raw))
        assert.equal(hash, r.phone_code_hash)
      end
      assert.is_nil(r.next_type)
      assert.is_nil(r.timeout)
      assert.same({ _ = "auth.sentCodeTypeFlashCall", pattern = "+1555***" }, r.type)
      assert_error(406, "SEND_CODE_UNAVAILABLE", resend(conn, phone, hash))
      assert_error(406, "SEND_CODE_UNAVAILABLE", resend(conn, phone, hash))
      -- a fresh sendCode is a new chain with a new hash
      local r2 = send_code(conn, phone)
      assert.not_equal(hash, r2.phone_code_hash)
      conn:close()
    end)
  end

  it("answers the errors of auth.sendCode and auth.resendCode", function()
    local conn = helpers.conn(T.dc, 2)
    for _, bad in ipairs { "1234", "+1234", "1234567890123456", "+1555abc1111", "", "++15550001111", "15550001111 " } do
      assert_error(400, "PHONE_NUMBER_INVALID", send_code(conn, bad))
    end
    assert.equal("auth.sentCode", send_code(conn, "12345")._)            -- 5 digits
    assert.equal("auth.sentCode", send_code(conn, "+123456789012345")._) -- 15 digits and +
    local phone = "15550002222"
    local hash = send_code(conn, phone).phone_code_hash
    assert_error(400, "PHONE_CODE_HASH_EMPTY", resend(conn, phone, ""))
    assert_error(400, "PHONE_NUMBER_INVALID", resend(conn, "12", hash))
    assert_error(400, "PHONE_CODE_EXPIRED", resend(conn, phone, "0123456789abcdef0123456789abcdef"))
    assert_error(400, "PHONE_CODE_EXPIRED", resend(conn, phone, "nothex"))
    assert_error(400, "PHONE_CODE_EXPIRED", resend(conn, "15550003333", hash)) -- another number's hash
    -- the golden request bytes (TELEGRAM.md), with and without reason: an unknown hash
    for _, req in ipairs {
      "23 75 e4 ca 00 00 00 00 0b 31 35 35 35 30 30 30 31 31 31 31 12 39 64 35 64 36 62 35 65 33 61 31 63 32 66 34 65 38 30 00",
      "23 75 e4 ca 01 00 00 00 0b 31 35 35 35 30 30 30 31 31 31 31 12 39 64 35 64 36 62 35 65 33 61 31 63 32 66 34 65 38 30 00 11 6e 6f 5f 70 6c 61 79 5f 69 6e 74 65 67 72 69 74 79 00 00",
    } do
      local res, err = conn:call(unhex(req))
      assert_error(400, "PHONE_CODE_EXPIRED", res, err)
    end
    -- the same request with a live hash and reason= (flags.0) walks the chain
    local r = call(conn, { _ = "auth.resendCode", phone_number = phone, phone_code_hash = hash,
      reason = "no_play_integrity" })
    assert.equal("auth.sentCodeTypeSms", r.type._)
    -- GramJS's layer-198 auth.resendCode#3ef1a9bf (no flags) is served too
    local old = unhex("bf a9 f1 3e") .. tl.encode{ _ = "auth.cancelCode", phone_number = phone,
      phone_code_hash = hash }:sub(5)
    local bytes = assert(conn:call(old))
    r = tl.decode(bytes)
    assert.equal("auth.sentCodeTypeCall", r.type._)
    conn:close()
  end)

  it("signs in with the test code, and only once", function()
    local conn = helpers.conn(T.dc, 2)
    local phone = "9996621234"
    local hash = send_code(conn, phone).phone_code_hash
    assert_error(400, "PHONE_CODE_INVALID", sign_in(conn, phone, hash, "12345"))
    assert_error(400, "PHONE_CODE_INVALID", sign_in(conn, phone, hash, "2222"))
    assert_error(400, "PHONE_CODE_EMPTY", sign_in(conn, phone, hash, nil))
    assert_error(400, "PHONE_CODE_HASH_EMPTY", sign_in(conn, phone, "", "22222"))
    assert_error(400, "PHONE_CODE_EXPIRED", sign_in(conn, phone, string.rep("0", 32), "22222"))
    local auth = sign_in(conn, phone, hash, "22222")
    assert.equal("auth.authorization", auth._)
    local u = auth.user
    assert.equal("user", u._)
    assert.is_true(u.self)
    assert.equal(phone, u.phone)
    assert.equal("Test", u.first_name)
    assert.is_nil(u.bot)
    -- the code was used up
    assert_error(400, "PHONE_CODE_EXPIRED", sign_in(conn, phone, hash, "22222"))
    -- ordinary numbers log in with 12345
    hash = send_code(conn, "15550004444").phone_code_hash
    assert.equal("auth.authorization", sign_in(conn, "15550004444", hash, "12345")._)
    conn:close()
  end)

  it("cancels a code", function()
    local conn = helpers.conn(T.dc, 2)
    local phone = "15550005555"
    local hash = send_code(conn, phone).phone_code_hash
    local r, raw = call(conn, { _ = "auth.cancelCode", phone_number = phone, phone_code_hash = hash })
    assert.equal("b5757299", hex(raw))
    assert.is_true(r == true or (type(r) == "table" and r._ == "boolTrue"))
    assert_error(400, "PHONE_CODE_EXPIRED", resend(conn, phone, hash))
    assert_error(400, "PHONE_CODE_EXPIRED", call(conn, { _ = "auth.cancelCode", phone_number = phone, phone_code_hash = hash }))
    conn:close()
  end)

  it("imports a bot authorization", function()
    local conn = helpers.conn(T.dc, 2)
    local auth = call(conn, { _ = "auth.importBotAuthorization", flags = 0, api_id = helpers.API_ID,
      api_hash = helpers.API_HASH, bot_auth_token = "123456:ABC-def_ghi" })
    assert.equal("auth.authorization", auth._)
    assert.is_true(auth.user.bot)
    assert.equal(123456, auth.user.id)
    assert.equal("test123456_bot", auth.user.username)
    for _, bad in ipairs { "123456", ":abc", "12a:abc", "123:", "123:a b" } do
      assert_error(400, "ACCESS_TOKEN_INVALID", call(conn, { _ = "auth.importBotAuthorization", flags = 0,
        api_id = 1, api_hash = "x", bot_auth_token = bad }))
    end
    conn:close()
  end)

  it("answers help.getConfig with its own ports and help.getNearestDc", function()
    local conn = helpers.conn(T.dc, 3)
    local cfg = call(conn, { _ = "help.getConfig" })
    assert.equal("config", cfg._)
    assert.equal(3, cfg.this_dc)
    assert.is_true(cfg.test_mode)
    local v4 = {}
    for _, o in ipairs(cfg.dc_options) do
      assert.equal("dcOption", o._)
      if not o.ipv6 then v4[o.id] = o.ip_address .. ":" .. o.port
      else assert.equal(T.dc.ports6[o.id], o.port) end
    end
    assert.same({ "127.0.0.1:" .. T.dc.ports[1], "127.0.0.1:" .. T.dc.ports[2], "127.0.0.1:" .. T.dc.ports[3] }, v4)
    local near = call(conn, { _ = "help.getNearestDc" })
    assert.same({ _ = "nearestDc", country = "ZZ", this_dc = 3, nearest_dc = 3 }, near)
    conn:close()
  end)

  it("answers updates.getState: 401 AUTH_KEY_UNREGISTERED before sign-in, then the state", function()
    local conn = helpers.conn(T.dc, 2)
    -- as Telegram: clients (GramJS, mtcute) ask it to learn whether their key is signed in
    assert_error(401, "AUTH_KEY_UNREGISTERED", call(conn, { _ = "updates.getState" }))
    local hash = send_code(conn, "9996621111").phone_code_hash
    assert.equal("auth.authorization", sign_in(conn, "9996621111", hash, "22222")._)
    local before = os.time()
    local st = call(conn, { _ = "updates.getState" })
    assert.is_true(st.date >= before - 1 and st.date <= os.time() + 1, "date " .. tostring(st.date))
    assert.same({ _ = "updates.state", pts = 1, qts = 0, date = st.date, seq = 1, unread_count = 0 }, st)
    conn:close()
    -- the authorization belongs to the key: a new key is not signed in, a bot's is
    conn = helpers.conn(T.dc, 2)
    assert_error(401, "AUTH_KEY_UNREGISTERED", call(conn, { _ = "updates.getState" }))
    assert.equal("auth.authorization", call(conn, { _ = "auth.importBotAuthorization", flags = 0,
      api_id = helpers.API_ID, api_hash = helpers.API_HASH, bot_auth_token = "123456:ABC" })._)
    assert.equal("updates.state", call(conn, { _ = "updates.getState" })._)
    conn:close()
  end)

  it("answers any other method with 400 METHOD_INVALID", function()
    local conn = helpers.conn(T.dc, 2)
    assert_error(400, "METHOD_INVALID", call(conn, { _ = "help.getAppConfig", hash = 0 }))
    assert_error(400, "METHOD_INVALID", conn:call(unhex("01 02 03 04")))
    -- and keeps serving
    assert.equal("nearestDc", call(conn, { _ = "help.getNearestDc" })._)
    conn:close()
  end)

  it("answers ping and get_future_salts, first inside invokeWithLayer, then bare", function()
    local conn = helpers.conn(T.dc, 2)
    local fs = call(conn, { _ = "get_future_salts", num = 2 })              -- wrapped: in an rpc_result
    assert.equal("future_salts", fs._)
    assert.equal(2, #fs.salts)
    assert.equal(conn:state().salt, fs.salts[1].salt)
    assert.is_true(fs.salts[1].valid_since <= fs.now and fs.now < fs.salts[1].valid_until)
    assert.equal(fs.salts[1].valid_until, fs.salts[2].valid_since)
    fs = call(conn, { _ = "get_future_salts", num = 1000 })                 -- bare; capped at 64
    assert.equal(64, #fs.salts)
    local r = call(conn, { _ = "ping", ping_id = 77 })
    assert.equal("pong", r._)
    assert.equal(77, r.ping_id)
    r = call(conn, { _ = "ping_delay_disconnect", ping_id = 78, disconnect_delay = 75 })
    assert.equal(78, r.ping_id)
    conn:close()
    conn = helpers.conn(T.dc, 2)
    assert.equal(79, call(conn, { _ = "ping", ping_id = 79 }).ping_id)      -- wrapped
    conn:close()
  end)

  it("sends test numbers of another DC there with 303 PHONE_MIGRATE_X, over IPv4 and IPv6", function()
    local c2 = helpers.conn(T.dc, 2)
    assert_error(303, "PHONE_MIGRATE_1", send_code(c2, "9996611234"))
    assert_error(303, "PHONE_MIGRATE_3", send_code(c2, "+9996635678"))
    assert_error(400, "PHONE_NUMBER_INVALID", send_code(c2, "9996691234"))    -- no DC 9 here
    local opts = nil
    if T.dc.ports6[1] then opts = { host = "::1", port = T.dc.ports6[1] } end
    local c1 = helpers.conn(T.dc, 1, opts)
    local hash = send_code(c1, "9996611234").phone_code_hash
    -- the hash is shared, the DC rule holds for every method
    assert_error(303, "PHONE_MIGRATE_1", resend(c2, "9996611234", hash))
    assert_error(303, "PHONE_MIGRATE_1", sign_in(c2, "9996611234", hash, "11111"))
    assert.equal("auth.authorization", sign_in(c1, "9996611234", hash, "11111")._)
    -- a key belongs to its DC: DC 3 does not know DC 1's key
    local st = c1:state()
    local c3 = core.conn.new{ host = T.dc.host, port = T.dc.ports[3], dc_id = 3, rsa_keys = { T.dc.pem },
      auth_key = st.auth_key, salt = st.salt, init = helpers.INIT, timeout = 5 }
    assert(c3:connect())
    assert.equal("nearestDc", call(c3, { _ = "help.getNearestDc" })._)       -- after a new key (-404)
    assert.not_equal(st.auth_key_id, c3:state().auth_key_id)
    c1:close(); c2:close(); c3:close()
  end)
end)

describe("mtproto-testdc on hostile input", function()
  local T = helpers.use_testdc{ dcs = 1 }

  local function raw_exchange(port, bytes)
    local out = helpers.raw_exchange(port, bytes)
    return out and hex(out)
  end

  it("answers an unknown auth key with a -404 frame and closes", function()
    -- abridged: 0xef, then a 24-word frame: auth_key_id 1, msg_key and 72 bytes of nonsense
    local frame = "\x01\0\0\0\0\0\0\0" .. string.rep("\x55", 88)
    assert.equal("016cfeffff", raw_exchange(T.dc.ports[1], "\xef" .. string.char(#frame // 4) .. frame))
    -- intermediate: the same as a 4-byte length and the int32
    assert.equal("040000006cfeffff", raw_exchange(T.dc.ports[1], "\xee\xee\xee\xee" .. string.pack("<I4", #frame) .. frame))
  end)

  it("closes connections that break the framing or the handshake, and keeps serving", function()
    for _, junk in ipairs {
      "\xef\x00",                                              -- abridged length 0
      "\xef\x7f\xff\xff\xff",                                   -- abridged length far too large
      string.rep("\xff", 64),                                   -- not a valid obfuscation header
      "\xee\xee\xee\xee\x08\0\0\0" .. string.rep("\0", 8),      -- plain message cut short
      "\xee\xee\xee\xee\x28\0\0\0" .. string.rep("\0", 8) .. string.rep("\x01", 8) .. "\x14\0\0\0"
        .. string.rep("\x42", 20),                             -- a handshake step that is none
    } do
      assert.equal("", raw_exchange(T.dc.ports[1], junk))
    end
    local conn = helpers.conn(T.dc, 1)
    assert.equal("nearestDc", call(conn, { _ = "help.getNearestDc" })._)
    conn:close()
  end)
end)

describe("mtproto-testdc limits", function()
  it("expires codes after --code-lifetime", function()
    local dc <close> = helpers.start_testdc{ dcs = 1, code_lifetime = 1 }
    local conn = helpers.conn(dc, 1)
    local hash = send_code(conn, "15550006666").phone_code_hash
    core.conn.sleep(2.1)
    assert_error(400, "PHONE_CODE_EXPIRED", resend(conn, "15550006666", hash))
    conn:close()
  end)

  it("answers 420 FLOOD_WAIT_N to too many resendCode calls on one hash, per hash", function()
    local dc <close> = helpers.start_testdc{ dcs = 1, flood = 2, resend_timeout = 30 }
    local conn = helpers.conn(dc, 1)
    local phone = "15550007777"
    local hash = send_code(conn, phone).phone_code_hash
    local other = send_code(conn, phone).phone_code_hash
    -- one container: the server sees all of them at the same instant
    local ids = {}
    for i = 1, 4 do
      ids[i] = conn:send(tl.encode{ _ = "auth.resendCode", phone_number = phone, phone_code_hash = hash })
    end
    ids[5] = conn:send(tl.encode{ _ = "auth.resendCode", phone_number = phone, phone_code_hash = other })
    assert(conn:flush())
    local got = {}
    for i = 1, 5 do
      local b, err = conn:wait(ids[i])
      got[i] = b and tl.decode(b).type._ or (err.code .. " " .. err.message)
    end
    assert.same({ "auth.sentCodeTypeSms", "auth.sentCodeTypeCall", "420 FLOOD_WAIT_1", "420 FLOOD_WAIT_1",
      "auth.sentCodeTypeSms" }, got)
    assert.equal(30, tl.decode(assert(conn:call(tl.encode{ _ = "auth.resendCode", phone_number = phone,
      phone_code_hash = other }))).timeout)
    conn:close()
  end)

  it("has no flood limit with flood = false", function()
    local dc <close> = helpers.start_testdc{ dcs = 1, flood = false }
    local conn = helpers.conn(dc, 1)
    local hash = send_code(conn, "15550008888").phone_code_hash
    local ids = {}
    for i = 1, 40 do
      ids[i] = conn:send(tl.encode{ _ = "auth.resendCode", phone_number = "15550008888", phone_code_hash = hash })
    end
    local n406 = 0
    for i = 1, 40 do
      local b, err = conn:wait(ids[i])
      if not b then
        assert.equal("SEND_CODE_UNAVAILABLE", err.message)
        n406 = n406 + 1
      end
    end
    assert.equal(37, n406)
    conn:close()
  end)
end)

describe("mtproto-testdc faults", function()
  local log_file

  -- A test DC with one fault and a log; returns it, a connection to DC 1 and a log reader.
  local function faulty(faults)
    log_file = os.tmpname()
    local dc = helpers.start_testdc{ dcs = 1, faults = faults, verbose = 1, log = log_file }
    return dc, helpers.conn(dc, 1), function() return helpers.slurp(log_file) end
  end

  after_each(function() if log_file then os.remove(log_file) end end)

  local function login_works(conn)
    local r = send_code(conn, "15550009999")
    assert.equal("auth.sentCode", r._)
    assert.equal("auth.sentCodeTypeSms", resend(conn, "15550009999", r.phone_code_hash).type._)
  end

  it("logs one line per message, with direction and constructor", function()
    local dc, conn, log = faulty{}
    login_works(conn)
    local text = log()
    assert.matches("dc1 conn1 in  msg_id=%d+ seq=0 req_pq_multi\n", text)
    assert.matches("dc1 conn1 out msg_id=%d+ seq=0 resPQ\n", text)
    assert.matches("dc1 conn1 out msg_id=%d+ seq=0 dh_gen_ok\n", text)
    assert.matches("in  msg_id=%d+ seq=%d+ invokeWithLayer%(auth.sendCode%)\n", text)
    assert.matches("out msg_id=%d+ seq=%d+ new_session_created\n", text)
    assert.matches("out msg_id=%d+ seq=%d+ rpc_result%(auth.sentCode%)\n", text)
    assert.matches("in  msg_id=%d+ seq=%d+ auth.resendCode\n", text)
    conn:close(); dc:stop()
  end)

  it("bad_salt: the first request gets bad_server_salt, the re-sent one its answer", function()
    local dc, conn, log = faulty{ bad_salt = true }
    login_works(conn)
    assert.matches("out msg_id=%d+ seq=%d+ bad_server_salt\n", log())
    conn:close(); dc:stop()
  end)

  it("gzip: answers come gzip_packed, rpc_errors as they are (like Telegram)", function()
    local dc, conn, log = faulty{ gzip = true }
    login_works(conn)
    assert_error(400, "PHONE_NUMBER_INVALID", send_code(conn, "12"))
    assert.matches("rpc_result%(gzip_packed%)", log())
    assert.matches("rpc_result%(rpc_error 400 PHONE_NUMBER_INVALID%)", log())
    conn:close(); dc:stop()
  end)

  it("new_session: every answer in a container after new_session_created", function()
    local dc, conn, log = faulty{ new_session = true }
    login_works(conn)
    local _, n = log():gsub("new_session_created", "")
    assert.is_true(n >= 2)
    conn:close(); dc:stop()
  end)

  it("update_first: an update (msg_id 3 mod 4) before each answer", function()
    local dc, conn, log = faulty{ update_first = true }
    login_works(conn)
    local ups = conn:updates()
    assert.is_true(#ups >= 1)
    assert.equal("7eaf17e3", hex(ups[1]))
    for id in log():gmatch("out msg_id=(%d+) seq=%d+ updatesTooLong") do
      assert.equal(3, math.tointeger(tonumber(id)) % 4)
    end
    conn:close(); dc:stop()
  end)

  it("garbage: a packet that fails the msg_key check comes first and is dropped", function()
    local dc, conn, log = faulty{ garbage = true }
    login_works(conn)
    assert.matches("out garbage packet", log())
    conn:close(); dc:stop()
  end)

  it("delay_ms: answers come late, acked at once", function()
    local dc, conn, log = faulty{ delay_ms = 300 }
    local t0 = core.conn.monotonic()
    assert.equal("pong", call(conn, { _ = "ping", ping_id = 1 })._)
    assert.is_true(core.conn.monotonic() - t0 >= 0.29) -- the server counts whole milliseconds
    assert.matches("out msg_id=%d+ seq=%d*[02468] msgs_ack\n", log())
    conn:close(); dc:stop()
  end)

  it("drop_after: the connection closes, the re-sent request gets the kept answer", function()
    local dc, conn, log = faulty{ drop_after = 1 }
    login_works(conn)
    local text = log()
    assert.matches("drop_after=1: closing", text)
    assert.matches("answer re%-sent", text)
    assert.is_true(conn:state().connections >= 2)
    conn:close(); dc:stop()
  end)

  it("clock_offset: a client with the wrong clock is told (bad_msg_notification 16/17) and catches up", function()
    local dc, conn, log = faulty{ clock_offset = 3600 }
    local st = conn:state()
    assert.is_true(math.abs(st.time_offset - 3600) <= 2)   -- learnt from the handshake
    conn:close()
    -- a client that restores the key with the old clock
    local c2 = core.conn.new{ host = dc.host, port = dc.ports[1], dc_id = 1, rsa_keys = { dc.pem },
      auth_key = st.auth_key, salt = st.salt, time_offset = 0, init = helpers.INIT, timeout = 5 }
    assert(c2:connect())
    assert.equal("pong", call(c2, { _ = "ping", ping_id = 2 })._)
    assert.matches("bad msg_id %(time %d+, server %d+%): 16", log())
    c2:close(); dc:stop()
  end)
end)

describe("mtproto-testdc hostile-server faults", function()
  local log_file
  after_each(function() if log_file then os.remove(log_file) end end)

  -- A test DC with one fault; a connection to it; the log; three pings' outcomes.
  local function run(faults, transport, timeout)
    log_file = os.tmpname()
    local dc <close> = helpers.start_testdc{ dcs = 1, faults = faults, verbose = 1, log = log_file }
    local conn = helpers.conn(dc, 1, { transport = transport or "padded", timeout = timeout or 5 })
    local got = {}
    for i = 1, 3 do
      local r, err = call(conn, { _ = "ping", ping_id = i })
      got[i] = r and ("pong " .. r.ping_id) or (err.code .. " " .. err.message)
    end
    local conns = conn:state().connections
    conn:close()
    return got, helpers.slurp(log_file), conns
  end

  it("replay: every answer packet comes again, byte for byte, before the next one", function()
    local got, log = run{ replay = true }
    assert.same({ "pong 1", "pong 2", "pong 3" }, got)
    local _, n = log:gsub("out replayed packet", "")
    assert.equal(2, n)
  end)

  it("nested_container: a container in a container before each answer", function()
    local got, log = run{ nested_container = true }
    assert.same({ "pong 1", "pong 2", "pong 3" }, got)   -- the nested NESTED_CONTAINER_ACCEPTED is not taken
    local _, n = log:gsub("out nested container", "")
    assert.equal(3, n)
  end)

  it("gzip_bomb: once per session, an answer that inflates past 16 MiB", function()
    local got, log = run{ gzip_bomb = true }
    assert.matches("out gzip bomb %(%d+ bytes inflating to 17825792%)", log)
    local _, n = log:gsub("gzip bomb", "")
    assert.equal(1, n)
    assert.same({ "pong 2", "pong 3" }, { got[2], got[3] })   -- the first: an error or the answer
  end)

  for _, tr in ipairs { "abridged", "intermediate", "full" } do
    it("huge_frame: a frame header claiming 32 MiB, then close (" .. tr .. ")", function()
      local got, log, conns = run({ huge_frame = true }, tr)
      assert.same({ "pong 1", "pong 2", "pong 3" }, got)      -- answered after the reconnect
      assert.matches("out frame header claiming 33554432 bytes, then close", log)
      assert.equal(2, conns)
    end)
  end

  it("cut_after: half the answer frame, then close; the re-sent request gets the kept answer", function()
    local got, log, conns = run({ cut_after = 1 }, "obfuscated")
    assert.same({ "pong 1", "pong 2", "pong 3" }, got)
    assert.matches("cut_after=1: %d+ of %d+ answer bytes, then close", log)
    assert.matches("answer re%-sent", log)
    assert.equal(2, conns)
  end)

  it("stall_after: nothing more on that connection", function()
    local got, log = run({ stall_after = 2 }, "padded", 0.3)
    assert.same({ "pong 1", "-16 TIMEOUT", "-16 TIMEOUT" }, got)
    assert.matches("stall_after=2: no more answers on this connection", log)
  end)
end)

describe("make demo (examples/demo.lua + examples/login.lua)", function()
  it("starts the test DC, walks the login flow, signs in and stops the test DC", function()
    local root = helpers.ROOT
    -- the child finds the module and the test DC as this process does
    local p = assert(io.popen(("cd '%s' && %s examples/demo.lua 2>&1"):format(root, helpers.LUA)))
    local out = p:read("a")
    local ok = p:close()
    assert.is_true(ok, out)
    local pid = tonumber(out:match("test DC running %(pid (%d+)%)"))
    assert.is_number(pid, out)
    assert.is_false(helpers.alive(pid))
    -- the number lives on DC 1, the client starts on DC 2: PHONE_MIGRATE_1 was followed
    assert.matches("answered by DC 1", out)
    local types = {}
    for t in out:gmatch('type = { _ = "auth%.sentCodeType(%a+)"') do types[#types + 1] = t end
    assert.same({ "App", "Sms", "Call", "FlashCall" }, types)
    assert.matches("406 SEND_CODE_UNAVAILABLE", out)
    assert.matches("auth.signIn with code 11111\nsigned in as Test %(id %d+, phone 9996611234%)", out)
    -- then a QR login accepted by that account, across DCs
    assert.matches("QR login: show tg://login%?token=[%w_%-]+ %(valid until", out)
    assert.matches("login state: wait_other_device\n", out)
    assert.matches("QR login: signed in as Test %(id 9996611235%) on DC 1\n", out)
    -- and a password account
    assert.matches("login state: wait_password\n", out)
    assert.matches("password account: signed in as %w+ %(id 9996612346%)\n", out)
    assert.matches("test DC stopped\n$", out)
  end)
end)
