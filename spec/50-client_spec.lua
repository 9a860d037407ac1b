-- mtproto.client against the local test DC over loopback TCP.
local helpers = require("helpers")
local mtproto = require("mtproto")
local testdc = require("mtproto.testdc")

local API_ID, API_HASH = 12345, "0123456789abcdef0123456789abcdef"

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function client_for(dc, extra)
  local o = { api_id = API_ID, api_hash = API_HASH, dc_options = dc:options(), rsa_keys = { dc.pem },
    timeout = 5, connect_timeout = 5 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return assert(mtproto.client(o))
end

local logged_dc = helpers.logged_dc

local function send_code(client, phone)
  return client.auth.sendCode{ phone_number = phone, api_id = API_ID, api_hash = API_HASH, settings = {} }
end

describe("mtproto.client", function()
  local dc

  lazy_setup(function() dc = assert(testdc.start{ dcs = 3 }) end)
  lazy_teardown(function() if dc then dc:stop() end end)

  describe("methods", function()
    it("reaches every method as client.<ns>.<method>, client.<method> and client:invoke", function()
      local client = client_for(dc)
      assert.is_function(client.auth.resendCode)
      assert.is_function(client.help.getConfig)
      assert.is_function(client.messages.sendMessage)
      assert.is_function(client.invokeWithLayer)      -- no namespace
      assert.equal(client.auth.sendCode, client.auth.sendCode) -- built once
      local cfg, err = client.help.getConfig{}
      assert.is_nil(err)
      assert.equal("config", cfg._)
      local same = assert(client:invoke{ _ = "help.getConfig" })
      assert.equal("config", same._)
      local sent = assert(send_code(client, "9996621234"))
      assert.equal("auth.sentCode", sent._)
      assert.is_string(sent.phone_code_hash)
      local again = assert(client.auth.resendCode{ phone_number = "9996621234", phone_code_hash = sent.phone_code_hash })
      assert.equal("auth.sentCode", again._)
      assert.is_table(again.type)
      client:close()
    end)

    it("has a function for every method of the schema", function()
      local client = client_for(dc)
      local n = 0
      for _, name in ipairs(mtproto.tl.methods()) do
        local ns, m = name:match("^([^.]+)%.(.+)$")
        local f
        if ns then f = client[ns][m] else f = client[name] end
        assert.is_function(f, name)
        n = n + 1
      end
      assert.is_true(n > 700, tostring(n))
      client:close()
    end)

    it("raises on unknown methods and bad arguments before anything is sent", function()
      local client = client_for(dc)
      assert.has_error(function() return client.auth.foo end, "mtproto: unknown method auth.foo")
      assert.has_error(function() return client.nosuchthing end, "mtproto: unknown method nosuchthing")
      assert.has_error(function() client:invoke{ _ = "auth.foo" } end, "mtproto: unknown method auth.foo")
      assert.has_error(function() client:invoke{ _ = "auth.sentCode" } end,
        "mtproto: auth.sentCode is a constructor, not a method")
      local function raises(f, ...)
        local ok, msg = pcall(f)
        assert.is_false(ok)
        for _, part in ipairs { ... } do
          assert.truthy(tostring(msg):find(part, 1, true), tostring(msg) .. " lacks " .. part)
        end
      end
      raises(function() client.auth.resendCode{ phone_number = "15550001111" } end, "auth.resendCode", "phone_code_hash")
      raises(function() client.auth.resendCode{ phone_number = 15550001111, phone_code_hash = "x" } end,
        "auth.resendCode", "phone_number")
      raises(function() client.auth.sendCode{ phone_number = "1", api_id = 1 << 40, api_hash = "x", settings = {} } end,
        "auth.sendCode", "api_id")
      raises(function() client.auth.sendCode("9996621234") end, "auth.sendCode", "expected a table")
      raises(function() client:invoke_all{ { _ = "help.getConfig" }, { _ = "auth.resendCode" } } end,
        "item 2", "auth.resendCode")
      -- nothing was sent: no connection was ever opened
      assert.same({}, client:session_info().dcs)
      client:close()
    end)

    it("checks its options", function()
      assert.has_error(function() mtproto.client{ api_hash = API_HASH } end,
        "bad argument #1 to 'mtproto.client' (api_id: expected an integer)")
      assert.has_error(function() mtproto.client{ api_id = 1, transport = "smoke" } end,
        "bad argument #1 to 'mtproto.client' (transport: expected \"abridged\", \"intermediate\", \"padded\", \"full\" or \"obfuscated\")")
      assert.has_error(function() mtproto.client{ api_id = 1, dc_options = { [2] = { port = 1 } } } end)
      assert.has_error(function() mtproto.client{ api_id = 1, log_level = "loud" } end)
    end)

    it("uses the built-in addresses, the test ones in test_mode", function()
      local prod = assert(mtproto.client{ api_id = 1 })
      assert.same({ "149.154.167.51", 443 }, { prod:dc_address(2) })
      assert.same({ "91.108.56.130", 443 }, { prod:dc_address(5) })
      local test = assert(mtproto.client{ api_id = 1, test_mode = true, dc = 1 })
      assert.same({ "149.154.175.10", 443 }, { test:dc_address() })
      local over = assert(mtproto.client{ api_id = 1, dc_options = { [2] = { host = "127.0.0.1", port = 14402 } } })
      assert.same({ "127.0.0.1", 14402 }, { over:dc_address(2) })
      prod:close(); test:close(); over:close()
    end)

    it("puts dc + 10000 in the handshake in test_mode", function()
      local ldc, count, stop = logged_dc{ dcs = 3 }
      local test = client_for(ldc, { test_mode = true, pfs = false })
      assert(test.help.getNearestDc{})
      assert.equal(1, count("new auth key %x+ %(inner dc 10002%)"))
      test:close()
      local prod = client_for(ldc, { dc = 3, pfs = false })
      assert(prod.help.getNearestDc{})
      assert.equal(1, count("new auth key %x+ %(inner dc 3%)"))
      prod:close()
      stop()
    end)

    it("works over every transport", function()
      for _, t in ipairs { "abridged", "intermediate", "padded", "full", "obfuscated" } do
        local client = client_for(dc, { transport = t })
        local cfg, err = client.help.getConfig{}
        assert.is_nil(err, t)
        assert.equal("config", cfg._, t)
        client:close()
      end
    end)
  end)

  describe("errors", function()
    it("returns the server's errors as mtproto.Error", function()
      local client = client_for(dc)
      local r, err = client.auth.resendCode{ phone_number = "9996621234", phone_code_hash = "9d5d6b5e3a1c2f4e80" }
      assert.is_nil(r)
      assert.is_true(mtproto.errors.is(err))
      assert.equal(400, err.code)
      assert.equal("PHONE_CODE_EXPIRED", err.message)
      assert.equal("PHONE_CODE_EXPIRED", err.type)
      assert.equal("auth.resendCode", err.method)
      assert.equal("restart_login", err.kind)
      assert.truthy(tostring(err):find("^mtproto.Error 400 PHONE_CODE_EXPIRED %(auth.resendCode%): the code has expired"))
      r, err = client.auth.resendCode{ phone_number = "9996621234", phone_code_hash = "" }
      assert.is_nil(r)
      assert.equal("PHONE_CODE_HASH_EMPTY", err.message)
      r, err = send_code(client, "12")
      assert.is_nil(r)
      assert.equal(400, err.code)
      assert.equal("PHONE_NUMBER_INVALID", err.message)
      assert.equal("auth.sendCode", err.method)
      assert.equal("the phone number is invalid", err.description)
      client:close()
    end)

    it("returns network failures as mtproto.Error with negative codes", function()
      local gone = assert(testdc.start{ dcs = 1 })
      local opts = gone:options()
      local pem = gone.pem
      gone:stop()
      local client = assert(mtproto.client{ api_id = API_ID, dc = 1, dc_options = opts, rsa_keys = { pem },
        timeout = 2, connect_timeout = 2 })
      local r, err = client.help.getConfig{}
      assert.is_nil(r)
      assert.is_true(mtproto.errors.is(err))
      assert.is_true(err.code < 0)
      assert.equal("network", err.kind)
      assert.equal("help.getConfig", err.method)
      assert.truthy(tostring(err):find("^mtproto.Error %-%d+ [A-Z_0-9]+ %(help.getConfig%)"))
      client:close()
    end)
  end)

  describe("updates", function()
    it("keeps updates pushed before an answer apart from the answers", function()
      local pushy = assert(testdc.start{ dcs = 2, faults = { update_first = true } })
      local client = client_for(pushy)
      local r = assert(client.help.getNearestDc{})
      assert.equal("nearestDc", r._)
      local ups = client:get_updates()
      assert.is_true(#ups >= 1)
      assert.is_string(ups[1]._)
      assert.same({}, client:get_updates()) -- the queue was emptied
      client:close()
      pushy:stop()
    end)
  end)

  describe("timeouts", function()
    it("returns TIMEOUT as mtproto.Error and stays usable", function()
      local slow = assert(testdc.start{ dcs = 2, faults = { delay_ms = 150 } })
      local client = client_for(slow)
      assert(client:connection(2)) -- the handshake, at the server's pace
      local r, err = client:invoke({ _ = "help.getNearestDc" }, { timeout = 0.01 })
      assert.is_nil(r)
      assert.equal(-16, err.code)
      assert.equal("TIMEOUT", err.message)
      assert.equal("network", err.kind)
      assert.equal("help.getNearestDc", err.method)
      local ok = assert(client:invoke({ _ = "help.getConfig" }, { timeout = 10 }))
      assert.equal("config", ok._)
      client:close()
      slow:stop()
    end)
  end)

  describe("DC migration", function()
    it("moves the home DC on PHONE_MIGRATE and repeats the call once", function()
      local path = tmpname()
      local client = client_for(dc, { session = path })
      assert.equal(2, client:session_info().home_dc)
      local sent, err = send_code(client, "9996631234")
      assert.is_nil(err)
      assert.equal("auth.sentCode", sent._)
      local info = client:session_info()
      assert.equal(3, info.home_dc)
      assert.is_true(info.dcs[3].connected)
      -- the next call goes straight to DC 3
      local again = assert(client.auth.resendCode{ phone_number = "9996631234", phone_code_hash = sent.phone_code_hash })
      assert.equal("auth.sentCode", again._)
      client:close()
      -- and the session remembers it
      local reopened = client_for(dc, { session = path })
      assert.equal(3, reopened:session_info().home_dc)
      reopened:close()
      os.remove(path)
    end)

    it("repeats a pinned call on the DC named by the error, keeping the home DC", function()
      local client = client_for(dc)
      -- pinned to DC 1: the answer PHONE_MIGRATE_3 is repeated on DC 3 once, home stays 2
      local sent, err = client:invoke({ _ = "auth.sendCode", phone_number = "9996631234", api_id = API_ID,
        api_hash = API_HASH, settings = {} }, { dc = 1 })
      assert.is_nil(err)
      assert.equal("auth.sentCode", sent._)
      assert.equal(2, client:session_info().home_dc)
      client:close()
    end)
  end)

  describe("sessions", function()
    it("makes one key per DC and reuses it when reopened: no handshake", function()
      local ldc, count, stop = logged_dc{ dcs = 3 }
      local path = tmpname()
      local a = client_for(ldc, { session = path, pfs = false })
      assert(send_code(a, "9996631234")) -- DC 2, then DC 3: a new key there
      assert(a.help.getConfig{})
      assert.equal(1, count("dc2 conn%d+ new auth key"))
      assert.equal(1, count("dc3 conn%d+ new auth key"))
      local id3 = a:session_info().dcs[3].key_id
      a:close()
      local b = client_for(ldc, { session = path, pfs = false })
      assert.equal(3, b:session_info().home_dc)
      assert(b.help.getConfig{})
      assert(b:invoke({ _ = "help.getNearestDc" }, { dc = 2 }))
      assert.equal(2, count("new auth key")) -- still the two of the first client
      assert.equal(1, count(string.format("new auth key %016x", id3)))
      b:close()
      stop()
      os.remove(path)
    end)

    it("reuses the saved key without the server's RSA key", function()
      local path = tmpname()
      local a = client_for(dc, { session = path, pfs = false })
      assert(a.help.getConfig{})
      local key = a:connection(2):state().auth_key
      local key_id = a:session_info().dcs[2].key_id
      assert.equal(256, #key)
      a:close()
      local p = io.popen("stat -c %a '" .. path .. "'")
      assert.equal("600", p:read("l"))
      p:close()
      assert.equal("mtproto-lua-session 1\n", read(path):sub(1, 22))
      local saved = assert(mtproto.session_file.load(path))
      assert.equal(key, saved.dcs[2].auth_key)
      assert.are_not.equal(0, saved.dcs[2].salt) -- the server's salt is kept too
      -- Reopen WITHOUT the test DC's RSA key (so only the built-in Telegram keys):
      -- a handshake could not succeed, so the call working proves the key was reused.
      local b = assert(mtproto.client{ api_id = API_ID, dc_options = dc:options(), session = path, timeout = 5,
        pfs = false })
      local cfg, err = b.help.getConfig{}
      assert.is_nil(err)
      assert.equal("config", cfg._)
      assert.equal(key, b:connection(2):state().auth_key)
      assert.equal(key_id, b:session_info().dcs[2].key_id)
      b:close()
      -- a memory-only client makes its own new key
      local c = client_for(dc)
      assert(c.help.getConfig{})
      assert.are_not.equal(key, c:connection(2):state().auth_key)
      c:close()
      os.remove(path)
    end)

    it("refuses a corrupt or foreign session file and leaves it untouched", function()
      local path = tmpname()
      local a = client_for(dc, { session = path })
      assert(a.help.getConfig{})
      a:close()
      local good = read(path)
      local bad = good:gsub("home_dc 2", "home_dc 3")
      local f = io.open(path, "wb"); f:write(bad); f:close()
      local c, err = mtproto.client{ api_id = API_ID, session = path }
      assert.is_nil(c)
      assert.equal("SESSION_CORRUPT", err.message)
      assert.truthy(tostring(err):find(path, 1, true))
      assert.equal(bad, read(path))
      f = io.open(path, "wb"); f:write("SQLite format 3\0"); f:close()
      c, err = mtproto.client{ api_id = API_ID, session = path }
      assert.is_nil(c)
      assert.equal("SESSION_FOREIGN", err.message)
      assert.equal("SQLite format 3\0", read(path))
      -- a session of the production servers is not used in test mode
      f = io.open(path, "wb"); f:write(good); f:close()
      c, err = mtproto.client{ api_id = API_ID, session = path, test_mode = true }
      assert.is_nil(c)
      assert.equal("SESSION_MISMATCH", err.message)
      assert.truthy(tostring(err):find("test_mode differs", 1, true))
      assert.equal(good, read(path))
      os.remove(path)
    end)
  end)

  describe("many calls in flight", function()
    it("send/wait returns what invoke would, whatever the order of the waits", function()
      local client = client_for(dc)
      local kinds = {
        { obj = { _ = "help.getNearestDc" }, want = "nearestDc" },
        { obj = { _ = "help.getConfig" }, want = "config" },
        { obj = { _ = "auth.resendCode", phone_number = "9996621234", phone_code_hash = "bad" }, err = "PHONE_CODE_EXPIRED" },
      }
      local p = {}
      for i = 1, 30 do p[i] = client:send(kinds[i % 3 + 1].obj) end
      assert.truthy(tostring(p[1]):find("in flight", 1, true))
      for i = 30, 1, -1 do
        local k = kinds[i % 3 + 1]
        local r, err = p[i]:wait()
        if k.want then
          assert.is_nil(err, i)
          assert.equal(k.want, r._, i)
        else
          assert.is_nil(r, i)
          assert.equal(k.err, err.message, i)
          assert.equal("auth.resendCode", err.method, i)
        end
      end
      -- waiting again gives the same answer
      local first = p[1]:wait()
      assert.equal(first, (p[1]:wait()))
      assert.truthy(tostring(p[1]):find("done", 1, true))
      client:close()
    end)

    it("invoke_all returns results and errors in order, sent in containers", function()
      local ldc, count, stop = logged_dc{ dcs = 3 }
      local client = client_for(ldc)
      assert(client.help.getConfig{}) -- handshake and first call out of the way
      local list = {}
      for i = 1, 100 do
        list[i] = i % 10 == 0 and { _ = "auth.resendCode", phone_number = "9996621234", phone_code_hash = "x" .. i }
          or { _ = "help.getNearestDc" }
      end
      local results = client:invoke_all(list)
      assert.equal(100, #results)
      for i = 1, 100 do
        if i % 10 == 0 then
          assert.is_true(mtproto.errors.is(results[i]), i)
          assert.equal("PHONE_CODE_EXPIRED", results[i].message)
        else
          assert.equal("nearestDc", results[i]._, i)
        end
      end
      assert.is_true(count("in  msg_id=%d+ seq=%d+ msg_container") >= 1)
      assert.is_true(count("in  msg_id=%d+ seq=%d+ help.getNearestDc") == 90)
      client:close()
      stop()
    end)
  end)

  describe("many calls in flight, with migration", function()
    it("a pending call that meets PHONE_MIGRATE is repeated on the new DC", function()
      local client = client_for(dc)
      local results = client:invoke_all{
        { _ = "help.getNearestDc" },
        { _ = "auth.sendCode", phone_number = "9996631234", api_id = API_ID, api_hash = API_HASH, settings = {} },
        { _ = "help.getNearestDc" },
      }
      assert.equal("nearestDc", results[1]._)
      assert.equal(2, results[1].this_dc)
      assert.equal("auth.sentCode", results[2]._)
      assert.equal("nearestDc", results[3]._)
      assert.equal(3, client:session_info().home_dc)
      local after = assert(client.help.getNearestDc{})
      assert.equal(3, after.this_dc)
      client:close()
    end)
  end)

  describe("bots", function()
    it("refuses the login-code methods locally after auth.importBotAuthorization", function()
      local own = assert(testdc.start{ dcs = 1 })
      local path = tmpname()
      local client = assert(mtproto.client{ api_id = API_ID, api_hash = API_HASH, dc = 1, dc_options = own:options(),
        rsa_keys = { own.pem }, session = path, timeout = 5 })
      local auth = assert(client.auth.importBotAuthorization{ flags = 0, api_id = API_ID, api_hash = API_HASH,
        bot_auth_token = "123456:ABCdef" })
      assert.equal("auth.authorization", auth._)
      assert.is_true(client:session_info().bot)
      own:stop() -- from here on a round trip would fail with a network error
      local calls = {
        function() return send_code(client, "9996611234") end,
        function() return client.auth.resendCode{ phone_number = "9996611234", phone_code_hash = "h" } end,
        function() return client.auth.signIn{ phone_number = "9996611234", phone_code_hash = "h", phone_code = "11111" } end,
        function() return client.auth.signUp{ phone_number = "9996611234", phone_code_hash = "h", first_name = "a", last_name = "b" } end,
        function() return client.auth.cancelCode{ phone_number = "9996611234", phone_code_hash = "h" } end,
        function() return client:send_code("9996611234") end,
        function() return client:resend_code() end,
        function() return client:sign_in("11111") end,
        function() return client:send{ _ = "auth.sendCode", phone_number = "9996611234", api_id = API_ID, api_hash = API_HASH, settings = {} }:wait() end,
      }
      for i, f in ipairs(calls) do
        local r, err = f()
        assert.is_nil(r, i)
        assert.equal(400, err.code, i)
        assert.equal("BOT_METHOD_INVALID", err.message, i)
        assert.is_true(err.is_local, i)
        assert.truthy(tostring(err):find("refused locally", 1, true), i)
      end
      client:close()
      -- the bot flag is kept in the session file
      local again = assert(mtproto.client{ api_id = API_ID, api_hash = API_HASH, session = path })
      assert.is_true(again:session_info().bot)
      local _, err = again:send_code("9996611234")
      assert.equal("BOT_METHOD_INVALID", err.message)
      again:close()
      os.remove(path)
    end)
  end)

  describe("logging", function()
    it("is off by default and never logs keys", function()
      local quiet = {}
      local a = client_for(dc, { logger = function(_, m) quiet[#quiet + 1] = m end })
      assert(a.help.getConfig{})
      a:close()
      assert.same({}, quiet)
      local lines = {}
      local b = client_for(dc, { log_level = "debug", logger = function(level, m)
        assert.truthy(({ error = 1, warn = 1, info = 1, debug = 1 })[level])
        lines[#lines + 1] = m
      end })
      assert(send_code(b, "9996631234")) -- migration: connects two DCs, makes two keys
      local keys = { b:connection(2):state().auth_key, b:connection(3):state().auth_key }
      local _, err = b.auth.resendCode{ phone_number = "9996631234", phone_code_hash = "nope" }
      assert.equal("PHONE_CODE_EXPIRED", err.message)
      b:close()
      assert.is_true(#lines >= 4)
      local all = table.concat(lines, "\n")
      assert.truthy(all:find("PHONE_MIGRATE_3", 1, true))
      for _, key in ipairs(keys) do
        local hex = key:gsub(".", function(c) return string.format("%02x", c:byte()) end)
        assert.is_nil(all:find(key, 1, true))
        assert.is_nil(all:lower():find(hex:sub(1, 16), 1, true))
      end
    end)
  end)

  describe("mtproto.pretty", function()
    it("renders a real answer", function()
      local client = client_for(dc)
      local sent = assert(send_code(client, "9996621234"))
      local s = mtproto.pretty(sent)
      assert.truthy(s:find('^{ ?\n? *_ = "auth.sentCode"'))
      assert.truthy(s:find('phone_code_hash = "' .. sent.phone_code_hash .. '"', 1, true))
      client:close()
    end)
  end)
end)
