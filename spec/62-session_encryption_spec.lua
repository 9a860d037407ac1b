-- Encrypted session files: session = { path =, passphrase = } (or key =) over real TCP against
-- the test DC, wrong secrets, damaged files, conversion, two processes, a writer killed -9.
local helpers = require("helpers")
local mtproto = require("mtproto")
local sf = require("mtproto.session_file")
local seal = require("mtproto.core").seal

local PASS = "correct horse battery staple"
local KEY = string.rep("\42", 32)

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function flip(s, i) return s:sub(1, i - 1) .. string.char(s:byte(i) ~ 0x20) .. s:sub(i + 1) end

describe("encrypted session files", function()
  local T = helpers.use_testdc{ dcs = 2 }

  local function open(session)
    return mtproto.client(T.dc:client_options{ api_id = helpers.API_ID, api_hash = helpers.API_HASH,
      session = session, timeout = 10 })
  end

  -- a directory with a key-encrypted session "s" a client holds, after one call
  local function used_session()
    local dir = helpers.tmpdir()
    local path = dir .. "/s"
    local c = helpers.client(T.dc, { session = { path = path, key = KEY } })
    assert.truthy(c.help.getNearestDc{})
    return dir, path, c
  end

  it("keep a login over TCP: close, reopen with the passphrase, still signed in, no key in clear", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/me.session"
    local c, user = helpers.signed_in(T.dc, "9996621234", { session = { path = path, passphrase = PASS } })
    assert.is_true(c:session_info().encrypted)
    local key_id = c:session_info().dcs[2].key_id
    assert.is_true(c:close())
    local disk = helpers.slurp(path)
    assert.is_true(seal.is_sealed(disk))
    assert.same({ version = 1, kind = "passphrase", log2_n = 16, r = 8, p = 1 }, seal.header(disk))
    -- nothing of the session in clear: not the auth key (raw or hex), the user, the format
    local d = assert(sf.load(path, { passphrase = PASS }))
    local auth_key = d.dcs[2].auth_key
    assert.equal(256, #auth_key)
    assert.equal(user, d.user_id)
    for _, needle in ipairs { auth_key:sub(1, 16), sf.tohex(auth_key):sub(1, 32), tostring(user), "mtproto-lua-session" } do
      assert.is_nil(disk:find(needle, 1, true))
    end
    assert.equal("600", string.format("%o", tonumber(io.popen("stat -c %a " .. path):read("l"), 8)))
    c = assert(open{ path = path, passphrase = PASS })
    local info = c:session_info()
    assert.equal(user, info.user_id)
    assert.equal(key_id, info.dcs[2].key_id) -- the same key: no new handshake
    -- a call only a signed-in key may make
    assert.equal("updates.state", assert(c.updates.getState{})._)
    assert.is_true(c:close())
    -- every save takes a fresh nonce: the file changed though the login did not
    assert.not_equal(disk, helpers.slurp(path))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("a wrong passphrase or key is SESSION_DECRYPT_FAILED, the file untouched and unlocked", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/s"
    local c = helpers.signed_in(T.dc, "9996621234", { session = { path = path, key = KEY } })
    assert.is_true(c:close())
    local before = helpers.slurp(path)
    for _, bad in ipairs { { key = string.rep("\43", 32) }, { passphrase = "not the key" } } do
      local none, err = open{ path = path, key = bad.key, passphrase = bad.passphrase }
      assert.is_nil(none)
      assert.equal("SESSION_DECRYPT_FAILED", err.message)
      assert.equal("wrong passphrase or key for the encrypted session file; it was left untouched", err.description)
      assert.truthy(tostring(err):find(path, 1, true))
    end
    local _, err = open(path)
    assert.equal("SESSION_ENCRYPTED", err.message)
    assert.matches("is encrypted: give its passphrase or key", err.description, 1, true)
    assert.matches("is encrypted: give session = { path = ..., passphrase = ... }", tostring(err), 1, true)
    assert.equal(before, helpers.slurp(path))
    assert.same({ "s" }, helpers.ls(dir)) -- no lock file, no temp file left
    assert.is_true(assert(open{ path = path, key = KEY }):close())
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("an altered or truncated file is SESSION_CORRUPT and left as it is", function()
    local dir, path, c = used_session()
    assert.is_true(c:close())
    local good = helpers.slurp(path)
    local cases = {
      { "a ciphertext byte", flip(good, 100), "SESSION_CORRUPT", "altered or damaged" },
      { "the tag", flip(good, #good), "SESSION_CORRUPT", "altered or damaged" },
      { "the nonce", flip(good, 60), "SESSION_CORRUPT", "altered or damaged" },
      { "the header's AEAD id", flip(good, 19), "SESSION_CORRUPT", "bad header" },
      { "truncated", good:sub(1, 80), "SESSION_CORRUPT", "too short" },
      { "truncated in the magic", good:sub(1, 9), "SESSION_CORRUPT", "too short" },
      { "cut by a byte", good:sub(1, -2), "SESSION_CORRUPT", "altered or damaged" },
      { "another version", good:sub(1, 16) .. "\2" .. good:sub(18), "SESSION_VERSION", "unsupported" },
    }
    for _, case in ipairs(cases) do
      write(path, case[2])
      local none, err = open{ path = path, key = KEY }
      assert.is_nil(none, case[1])
      assert.equal(case[3], err.message, case[1])
      assert.matches(case[4], tostring(err), 1, true)
      assert.equal(case[2], helpers.slurp(path), case[1])
    end
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("a plaintext file opened with a secret is SESSION_NOT_ENCRYPTED (convert it first)", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/s"
    local c = helpers.client(T.dc, { session = path })
    assert.truthy(c.help.getNearestDc{})
    assert.is_true(c:close())
    local before = helpers.slurp(path)
    local none, err = open{ path = path, key = KEY }
    assert.is_nil(none)
    assert.equal("SESSION_NOT_ENCRYPTED", err.message)
    assert.matches("not encrypted (encrypt it first)", err.description, 1, true)
    assert.matches("mtproto.session_file.encrypt", tostring(err), 1, true)
    assert.equal(before, helpers.slurp(path))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("the derived key lives in a C object, wiped when the client is closed", function()
    local dir, path, c = used_session()
    local key = rawget(c, "_s").file.key -- the client's open session file (internal)
    assert.equal("mtproto.seal.key (key)", tostring(key))
    assert.is_true(c:close())
    assert.equal("mtproto.seal.key (closed)", tostring(key))
    assert.has_error(function() key:seal("x") end, "attempt to use a closed seal key")
    assert.truthy(sf.load(path, { key = KEY }))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("misuse raises before anything is opened", function()
    local rows = {
      { { path = "x", passphrase = 123 }, "passphrase: expected a non-empty string" },
      { { path = "x", passphrase = "" }, "passphrase: expected a non-empty string" },
      { { path = "x", key = string.rep("k", 31) }, "key: expected a string of 32 bytes" },
      { { path = "x", key = 5 }, "key: expected a string of 32 bytes" },
      { { path = "x", key = KEY, passphrase = PASS }, "give a passphrase or a key, not both" },
      { { path = "x", password = PASS }, 'unknown field "password"' },
      { { passphrase = PASS }, "expected a file name" },
      { { path = "", key = KEY }, "expected a file name" },
    }
    for _, row in ipairs(rows) do
      local ok, err = pcall(open, row[1])
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'mtproto.client' (session: " .. row[2], err, 1, true)
    end
    assert.has_error(function() sf.encrypt("x", { passphrase = 1 }) end,
      "bad argument #2 to 'mtproto.session_file.encrypt' (passphrase: expected a non-empty string)")
    assert.has_error(function() sf.encrypt("x") end)
    assert.has_error(function() sf.rekey("x", { key = KEY }, {}) end,
      "bad argument #3 to 'mtproto.session_file.rekey' (expected a passphrase or a key)")
  end)

  it("convert: encrypt a signed-in plaintext session, change its secret, decrypt it back", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/s"
    local c, user = helpers.signed_in(T.dc, "9996621234", { session = path })
    -- not while a client holds it
    local ok, err = sf.encrypt(path, { passphrase = PASS })
    assert.is_nil(ok)
    assert.equal("SESSION_LOCKED", err.message)
    assert.is_true(c:close())
    local plain = helpers.slurp(path)
    assert.is_true(sf.encrypt(path, { passphrase = PASS }))
    assert.is_true(seal.is_sealed(helpers.slurp(path)))
    ok, err = sf.encrypt(path, { key = KEY }) -- already encrypted: left as it is
    assert.is_nil(ok)
    assert.equal("SESSION_ENCRYPTED", err.message)
    c = assert(open{ path = path, passphrase = PASS })
    assert.equal(user, c:session_info().user_id)
    assert.is_true(c:close())
    assert.is_true(sf.rekey(path, { passphrase = PASS }, { key = KEY }))
    assert.equal("key", seal.header(helpers.slurp(path)).kind)
    ok, err = sf.decrypt(path, { passphrase = PASS })
    assert.is_nil(ok)
    assert.equal("SESSION_DECRYPT_FAILED", err.message)
    assert.is_true(sf.decrypt(path, { key = KEY }))
    assert.equal(plain, helpers.slurp(path)) -- the same text, byte for byte
    ok, err = sf.decrypt(path, { key = KEY })
    assert.is_nil(ok)
    assert.equal("SESSION_NOT_ENCRYPTED", err.message)
    ok, err = sf.encrypt(dir .. "/none", { key = KEY })
    assert.is_nil(ok)
    assert.matches("no such session file", tostring(err), 1, true)
    assert.same({ "s" }, helpers.ls(dir))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("two processes on one encrypted file: the second gets SESSION_LOCKED", function()
    local dir, path, c = used_session()
    local script = dir .. "/child.lua"
    write(script, ([[
      local mtproto = require("mtproto")
      local c, err = mtproto.client{ api_id = 1, session = { path = %q, key = %q } }
      io.write(c and "opened" or err.message)
    ]]):format(path, KEY))
    local p = assert(io.popen(helpers.LUA .. " " .. script .. " 2>&1"))
    assert.equal("SESSION_LOCKED", p:read("a"))
    p:close()
    assert.is_true(c:close())
    p = assert(io.popen(helpers.LUA .. " " .. script .. " 2>&1"))
    assert.equal("opened", p:read("a"))
    p:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("a writer killed -9 while saving leaves the old file or the new one, both readable", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/s"
    local progress = dir .. "/progress"
    local script = dir .. "/writer.lua"
    -- saves without pause, each save a new user id; says how far it got
    write(script, ([[
      local sf = require("mtproto.session_file")
      local f = assert(sf.open(%q, { key = %q }))
      local d = f.data
      d.dcs[2] = { auth_key = string.rep("\1", 256), key_id = 1, salt = 2, time_offset = 0 }
      for i = 1, math.huge do
        d.user_id = i
        assert(f:save(d))
        local p = io.open(%q .. ".tmp", "w"); p:write(i); p:close()
        os.rename(%q .. ".tmp", %q)
      end
    ]]):format(path, KEY, progress, progress, progress))
    local last = 0
    for round = 1, 6 do
      local pid = io.popen(helpers.LUA .. " " .. script .. " >/dev/null 2>&1 & echo $!"):read("l")
      -- let it save a few times (the first round creates the file), then kill it mid-loop
      helpers.eventually(function() return (tonumber(helpers.slurp(progress)) or 0) > 2 end, 20)
      os.execute("sleep 0.0" .. round)
      assert(os.execute("kill -9 " .. pid))
      os.execute("while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.01; done")
      local done = tonumber(helpers.slurp(progress))
      local d = assert(sf.load(path, { key = KEY }))
      -- the file holds the last finished save, or the one being written when it died
      assert.truthy(d.user_id == done or d.user_id == done + 1, d.user_id .. " vs " .. done)
      assert.truthy(d.user_id >= 1)
      last = d.user_id
      os.remove(progress)
      os.remove(progress .. ".tmp") -- the spec's own note, when the kill lands while it is written
    end
    -- the next open removes the temp file a killed writer may have left
    local f = assert(sf.open(path, { key = KEY }))
    assert.equal(last, f.data.user_id)
    f:close()
    local names = helpers.ls(dir)
    assert.same({ "s", "writer.lua" }, names)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
