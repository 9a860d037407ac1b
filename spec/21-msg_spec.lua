-- MTProto 2.0 encrypted messages: packets rebuilt by hand from the documented
-- recipe (core.telegram.org/mtproto/description) with SHA-256 and OpenSSL's
-- own AES-IGE, then both directions, tampering, length checks, msg_id, containers.
local core = require("mtproto.core")
local T, C = core.transport, core.crypto
local helpers = require("helpers")

local E_TRUNCATED, E_RANGE, E_PROTO, E_AUTH_KEY_ID, E_MSG_KEY = -2, -3, -6, -7, -8

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- A fixed auth key: SHA-256 chained over a label, 8 blocks of 32 bytes.
local AUTH_KEY = (function()
  local out, h = {}, "lua-mtproto msg spec"
  for i = 1, 8 do h = C.sha256(h .. i); out[i] = h end
  return table.concat(out)
end)()

-- The documented MTProto 2.0 construction, independent of mt_msg.c.
local function msg_key_of(x, plain)
  return C.sha256(AUTH_KEY:sub(89 + x, 120 + x) .. plain):sub(9, 24)
end
local function kdf(msg_key, x)
  local a = C.sha256(msg_key .. AUTH_KEY:sub(1 + x, 36 + x))
  local b = C.sha256(AUTH_KEY:sub(41 + x, 76 + x) .. msg_key)
  return a:sub(1, 8) .. b:sub(9, 24) .. a:sub(25, 32), b:sub(1, 8) .. a:sub(9, 24) .. b:sub(25, 32)
end
local function key_id() return C.sha1(AUTH_KEY):sub(13, 20) end
-- Encrypts any plaintext (even a malformed one) into a packet.
local function seal(x, plain)
  local mk = msg_key_of(x, plain)
  local k, iv = kdf(mk, x)
  return key_id() .. mk .. assert(C.openssl_ige_encrypt(k, iv, plain))
end
local function plaintext(salt, sid, mid, seq, body, pad, claimed_len)
  return string.pack("<i8i8i8i4I4", salt, sid, mid, seq, claimed_len or #body) .. body .. pad
end

local BODY = "\x78\x97\x46\x60" .. string.rep("\x11\x22\x33\x44", 5) -- ping-like, 24 bytes
local SALT, SID, MID, SEQ = 0x1122334455667788, -0x0102030405060708, 0x5f5e5d5c00000004, 7

describe("encrypted messages", function()
  it("rebuilds the documented KDF the same way as core.crypto", function()
    local mk = ("\x5a"):rep(16)
    for _, x in ipairs { 0, 8 } do
      local k, iv = kdf(mk, x)
      local k2, iv2 = C.kdf(AUTH_KEY, mk, x)
      assert.equal(hex(k), hex(k2))
      assert.equal(hex(iv), hex(iv2))
    end
  end)

  for _, x in ipairs { 0, 8 } do
    it("encrypts to the golden packet, x = " .. x, function()
      -- random: one byte for the padding length (3 % 16 = 3 extra blocks), then the padding
      local base = 12 + (16 - (32 + #BODY + 12) % 16) % 16
      local padlen = base + 3 * 16
      local pad = string.rep("P", padlen)
      local pkt = T.msg_encrypt(AUTH_KEY, x, { salt = SALT, session_id = SID, msg_id = MID, seqno = SEQ,
                                              body = BODY, random = "\x03" .. pad })
      local want = seal(x, plaintext(SALT, SID, MID, SEQ, BODY, pad))
      assert.equal(hex(want), hex(pkt))
      assert.equal(0, (#pkt - 24) % 16)
    end)

    it("round trips, x = " .. x, function()
      for n = 0, 64, 4 do
        local body = string.rep("\xc3", n)
        local pkt = T.msg_encrypt(AUTH_KEY, x, { salt = SALT, session_id = SID, msg_id = MID, seqno = SEQ, body = body })
        local m = assert(T.msg_decrypt(AUTH_KEY, x, pkt))
        assert.same({ salt = SALT, session_id = SID, msg_id = MID, seqno = SEQ, body = body, padding = m.padding }, m)
        assert.is_true(m.padding >= 12 and m.padding <= 1024, "padding " .. m.padding)
        assert.equal(0, (32 + n + m.padding) % 16)
      end
    end)
  end

  -- The KDF's two hashes run at once on SHA-NI where the CPU has it.
  it("encrypts the same packets as the documented construction, with and without SHA-NI", function()
    local code = ("local AUTH_KEY, MID = %q, %d\n"):format(AUTH_KEY, MID) .. [[
      local T = require("mtproto.core").transport
      local out = {}
      for x = 0, 8, 8 do
        for n = 0, 96, 4 do
          local pkt = T.msg_encrypt(AUTH_KEY, x, { msg_id = MID + n, body = ("b"):rep(n),
                                                  random = string.char(n) .. ("r"):rep(300) })
          out[#out + 1] = pkt:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
        end
      end
      io.write(table.concat(out, ","))
    ]]
    local want = {}
    for x = 0, 8, 8 do
      for n = 0, 96, 4 do
        local pad = ("r"):rep(12 + (16 - (32 + n + 12) % 16) % 16 + 16 * (n % 16))
        want[#want + 1] = hex(seal(x, plaintext(0, 0, MID + n, 0, ("b"):rep(n), pad)))
      end
    end
    assert.equal(table.concat(want, ","), helpers.run_lua(code))
    assert.equal(table.concat(want, ","), helpers.run_lua(code, "MTPROTO_NO_SHANI=1 "))
  end)

  it("covers the whole padding range the random byte allows", function()
    for r = 0, 255 do
      local pkt = T.msg_encrypt(AUTH_KEY, 0, { msg_id = MID, body = BODY, random = string.char(r) .. string.rep("\0", 300) })
      local m = assert(T.msg_decrypt(AUTH_KEY, 0, pkt))
      assert.equal(12 + (16 - (32 + #BODY + 12) % 16) % 16 + 16 * (r % 16), m.padding)
    end
  end)

  it("decrypts a hand-sealed packet, ignoring a padded-transport tail", function()
    local pkt = seal(8, plaintext(SALT, SID, MID + 1, 2, BODY, string.rep("z", 1024 - 8)))
    for tail = 0, 15 do
      local m = assert(T.msg_decrypt(AUTH_KEY, 8, pkt .. string.rep("t", tail)))
      assert.equal(BODY, m.body)
      assert.equal(MID + 1, m.msg_id)
      assert.equal(1016, m.padding)
    end
  end)

  it("decrypts a packet encrypted by GramJS (npm telegram 2.26, x = 0)", function()
    local key = {}
    for i = 0, 255 do key[#key + 1] = string.char((i * 11 + 5) % 256) end
    key = table.concat(key)
    local pkt = ("b50f6e5d19d8257b8fc448378d01b5d294a178255fadf69a5df33ac3330a7260779ab293133d8a63"
      .. "fdf02147c3d880262a1661863346e7fbfc785d8333bac0ba8309501420673b86e758d8492eccc45051bbddd9c20045a1")
      :gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
    local m = assert(T.msg_decrypt(key, 0, pkt))
    assert.same({ salt = 1234567890123, session_id = -987654321987, msg_id = 0x5f00000000000004, seqno = 3,
                  body = string.pack("<I4i8i8", 0x347773c5, 8, 9), padding = 12 }, m)
  end)

  it("rejects the wrong direction, a tampered msg_key or ciphertext", function()
    local pkt = T.msg_encrypt(AUTH_KEY, 0, { msg_id = MID, body = BODY })
    local _, err = T.msg_decrypt(AUTH_KEY, 8, pkt)
    assert.same({ code = E_MSG_KEY, message = "MSG_KEY_INVALID", detail = "msg_key mismatch" }, err)
    for _, pos in ipairs { 9, 24, 25, 40, #pkt } do
      local bad = pkt:sub(1, pos - 1) .. string.char(pkt:byte(pos) ~ 0x01) .. pkt:sub(pos + 1)
      assert.equal(E_MSG_KEY, select(2, T.msg_decrypt(AUTH_KEY, 0, bad)).code)
    end
  end)

  it("rejects a wrong auth_key_id", function()
    local pkt = T.msg_encrypt(AUTH_KEY, 0, { msg_id = MID, body = BODY })
    local bad = string.char(pkt:byte(1) ~ 0x80) .. pkt:sub(2)
    assert.same({ code = E_AUTH_KEY_ID, message = "AUTH_KEY_ID_INVALID", detail = "wrong auth_key_id" },
      select(2, T.msg_decrypt(AUTH_KEY, 0, bad)))
    local other = C.sha256("other") .. AUTH_KEY:sub(33)
    assert.equal(E_AUTH_KEY_ID, select(2, T.msg_decrypt(other, 0, pkt)).code)
  end)

  it("rejects packets too short to hold a message", function()
    local pkt = T.msg_encrypt(AUTH_KEY, 0, { msg_id = MID, body = "", random = string.rep("\0", 32) })
    assert.equal(24 + 48, #pkt)
    assert.truthy(T.msg_decrypt(AUTH_KEY, 0, pkt))
    for _, n in ipairs { 0, 8, 24, 71 } do
      assert.equal(E_TRUNCATED, select(2, T.msg_decrypt(AUTH_KEY, 0, pkt:sub(1, n))).code)
    end
  end)

  -- The decryption hashes the plaintext for the msg_key check as it goes (32 bytes, then 64 at
  -- a time, on AES-NI): every size around those steps, on both IGE paths.
  it("decrypts hand-sealed packets of 48 to 448 bytes and rejects each with a bit flipped, on both IGE paths", function()
    local cases = {}
    for n = 0, 400, 16 do
      local body = string.rep(string.char(n % 251), n)
      local pkt = seal(0, plaintext(SALT, SID, MID, 1, body, string.rep("p", 16)))
      cases[#cases + 1] = ("{ %q, %q }"):format(pkt, body)
    end
    local check = [[
      local T, cases = require("mtproto.core").transport, { ]] .. table.concat(cases, ", ") .. [[ }
      for i, c in ipairs(cases) do
        local pkt, body = c[1], c[2]
        local m = assert(T.msg_decrypt(AUTH_KEY, 0, pkt), i)
        assert(m.body == body and m.padding == 16 and m.msg_id == MID, i)
        for _, pos in ipairs { 25, 40, 41, 57, #pkt - 16, #pkt } do
          local bad = pkt:sub(1, pos - 1) .. string.char(pkt:byte(pos) ~ 0x10) .. pkt:sub(pos + 1)
          assert(select(2, T.msg_decrypt(AUTH_KEY, 0, bad)).code == -8, i .. " " .. pos)
        end
      end
      io.write("ok")
    ]]
    local head = ("local AUTH_KEY, MID = %q, %d\n"):format(AUTH_KEY, MID)
    assert.equal("ok", helpers.run_lua(head .. check))
    assert.equal("ok", helpers.run_lua(head .. check, "MTPROTO_NO_AESNI=1 MTPROTO_NO_SHANI=1 "))
  end)

  it("checks the length fields of a correctly keyed plaintext", function()
    local function try(body, pad, claimed)
      return select(2, T.msg_decrypt(AUTH_KEY, 0, seal(0, plaintext(SALT, SID, MID, 1, body, pad, claimed))))
    end
    -- baseline: fine
    assert.is_nil(try(BODY, string.rep("p", 24)))
    -- message_data_length past the plaintext, not a multiple of 4, huge
    assert.equal(E_RANGE, try(BODY, string.rep("p", 24), #BODY + 28).code)
    assert.equal(E_RANGE, try(BODY, string.rep("p", 24), #BODY + 2).code)
    assert.equal(E_RANGE, try(BODY, string.rep("p", 24), 0xfffffffc).code)
    -- padding under 12 (8 bytes) and over 1024 (1040 bytes)
    assert.equal(E_RANGE, try(BODY .. string.rep("q", 16), string.rep("p", 8)).code)
    assert.equal(E_RANGE, try(BODY, string.rep("p", 1048)).code)
    -- the bounds themselves are fine: 12 and 1024
    assert.is_nil(try(BODY .. "123456789012", string.rep("p", 12)))
    assert.is_nil(try(BODY .. "12345678", string.rep("p", 1024)))
  end)

  it("raises on misuse", function()
    assert.has_error(function() T.msg_encrypt("short", 0, { msg_id = 1, body = "" }) end,
      "bad argument #1 to 'msg_encrypt' (auth_key must be 256 bytes)")
    assert.has_error(function() T.msg_encrypt(AUTH_KEY, 4, { msg_id = 1, body = "" }) end,
      "bad argument #2 to 'msg_encrypt' (x must be 0 (client to server) or 8 (server to client))")
    assert.has_error(function() T.msg_encrypt(AUTH_KEY, 0, { msg_id = 1, body = "abc" }) end,
      "bad argument #3 to 'msg_encrypt' (body length must be a multiple of 4)")
    assert.has_error(function() T.msg_encrypt(AUTH_KEY, 0, { msg_id = 1, body = "", random = "" }) end,
      "the fixed random bytes ran out")
  end)
end)

describe("msg_id clock", function()
  local NOW = 1700000000 * 1000000000 + 500000000   -- .5 s: fraction 2^31

  it("is (time + offset) * 2^32 + fraction with the low bits set", function()
    assert.equal((1700000000 << 32) | 0x80000000, T.msgid_next(0, 0, NOW, 0))
    assert.equal(((1700000000 + 3600) << 32) | 0x80000000, T.msgid_next(0, 3600, NOW, 0))
    assert.equal((1700000000 << 32) | 0x80000001, T.msgid_next(0, 0, NOW, 1))
    assert.equal((1700000000 << 32) | 0x80000003, T.msgid_next(0, 0, NOW, 3))
  end)

  it("strictly increases and keeps the residue, even on a stalled or backward clock", function()
    for _, mod4 in ipairs { 0, 1, 3 } do
      local last = 0
      for i = 1, 1000 do
        local now = NOW + (i % 7 == 0 and -1000000000 or 0) + (i // 10)
        local id = T.msgid_next(last, 0, now, mod4)
        assert.is_true(id > last)
        assert.equal(mod4, id % 4)
        last = id
      end
    end
  end)
end)

describe("containers", function()
  local items = {
    { msg_id = 0x5f00000000000004, seqno = 1, body = BODY },
    { msg_id = 0x5f00000000000008, seqno = 2, body = "" },
    { msg_id = 0x5f0000000000000c, seqno = 3, body = "\1\2\3\4" },
  }
  local function by_hand(list, count)
    local out = { string.pack("<I4I4", 0x73f1f8dc, count or #list) }
    for _, it in ipairs(list) do
      out[#out + 1] = string.pack("<i8i4I4", it.msg_id, it.seqno, #it.body) .. it.body
    end
    return table.concat(out)
  end

  it("packs the golden bytes and reads them back", function()
    local packed = T.container_pack(items)
    assert.equal(hex(by_hand(items)), hex(packed))
    assert.same(items, T.container_unpack(packed))
    assert.same({}, T.container_unpack(by_hand({})))
  end)

  it("rejects malformed containers", function()
    local good = by_hand(items)
    local function code(s) return select(2, T.container_unpack(s)).code end
    assert.equal(E_RANGE, code(by_hand(items, 9)))            -- more items claimed than present
    assert.equal(E_RANGE, code(by_hand(items, 2)))            -- bytes left after the last item
    assert.equal(E_RANGE, code(good:sub(1, -2)))              -- last body runs past the end
    assert.equal(E_TRUNCATED, code(good:sub(1, -6)))          -- last item header cut short
    assert.equal(E_TRUNCATED, code(good:sub(1, 6)))
    assert.equal(E_PROTO, code(string.pack("<I4", 0x1cb5c415) .. good:sub(5)))
    local bad_len = by_hand({ { msg_id = 4, seqno = 1, body = "\0\0\0\0\0\0\0\0" } })
    assert.equal(E_RANGE, code(bad_len:sub(1, 20) .. string.pack("<I4", 6) .. bad_len:sub(25)))
    assert.equal(E_RANGE, code(bad_len:sub(1, 20) .. string.pack("<I4", 12) .. bad_len:sub(25)))
    assert.equal(E_RANGE, code(string.pack("<I4I4", 0x73f1f8dc, 1025) .. string.rep("\0", 16 * 1025)))
  end)

  it("refuses more than 1024 messages", function()
    local list = {}
    for i = 1, 1025 do list[i] = { msg_id = 4 * i, seqno = 1, body = "" } end
    assert.equal(E_RANGE, select(2, T.container_pack(list)).code)
    list[1025] = nil
    assert.equal(1024, #T.container_unpack(T.container_pack(list)))
  end)
end)

describe("message layer robustness", function()
  it("turns corrupted packets and containers into error codes", function()
    local s = 7
    local function byte()
      s = (s * 6364136223846793005 + 1442695040888963407) & 0xffffffffffffffff
      return (s >> 33) & 0xff
    end
    local pkt = T.msg_encrypt(AUTH_KEY, 8, { msg_id = MID, body = BODY, random = string.rep("\0", 64) })
    local packed = T.container_pack({ { msg_id = 4, seqno = 1, body = BODY }, { msg_id = 8, seqno = 3, body = "" } })
    for _ = 1, 500 do
      local p = byte() % #pkt + 1
      local bad = pkt:sub(1, p - 1) .. string.char(pkt:byte(p) ~ (byte() | 1)) .. pkt:sub(p + 1, p + byte() % #pkt)
      local m, err = T.msg_decrypt(AUTH_KEY, 8, bad)
      assert.is_nil(m)
      assert.is_number(err.code)
      local q = byte() % #packed + 1
      local cbad = packed:sub(1, q - 1) .. string.char(byte()) .. packed:sub(q + 1, q + byte() % #packed)
      local items, cerr = T.container_unpack(cbad)
      if items then
        for _, it in ipairs(items) do assert.is_string(it.body) end
      else
        assert.is_true(cerr.code == E_RANGE or cerr.code == E_TRUNCATED or cerr.code == E_PROTO)
      end
    end
  end)
end)
