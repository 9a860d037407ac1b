-- The Lua <-> TL codec: golden bytes both ways, the by-hand combinators,
-- error messages, hostile input, and a round trip of every constructor and
-- method of the schema with generated values.
local tl = require("mtproto.tl")
local helpers = require("helpers")

local function unhex(h)
  return (h:gsub("%s", ""):gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end
local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local function u32(v) return string.pack("<I4", v) end
local function i32(v) return string.pack("<i4", v) end
local function i64(v) return string.pack("<i8", v) end
local function tlstr(s)
  local h = #s < 254 and string.char(#s) or "\254" .. string.pack("<I3", #s)
  local b = h .. s
  return b .. string.rep("\0", (4 - #b % 4) % 4)
end

local HASH = "9d5d6b5e3a1c2f4e80"
local SENT_SMS = unhex("02 25 00 5e 06 00 00 00 a2 bb 00 c0 05 00 00 00 12 39 64 35 64 36 62 35 65 33 61 31 63 32 66 34 65 38 30 00 e3 d3 1c 74 78 00 00 00")
local SENT_FLASH = unhex("02 25 00 5e 00 00 00 00 d9 c6 03 ab 08 2b 31 35 35 35 2a 2a 2a 00 00 00 12 39 64 35 64 36 62 35 65 33 61 31 63 32 66 34 65 38 30 00")
local SENT_SMS_VALUE = { _ = "auth.sentCode", type = { _ = "auth.sentCodeTypeSms", length = 5 },
  phone_code_hash = HASH, next_type = { _ = "auth.codeTypeCall" }, timeout = 120 }

-- { name, Lua value, bytes }: encode(value) == bytes and decode(bytes) == value.
local golden = {
  -- the four published example rows
  { "auth.resendCode", { _ = "auth.resendCode", phone_number = "15550001111", phone_code_hash = HASH },
    unhex("23 75 e4 ca 00 00 00 00 0b 31 35 35 35 30 30 30 31 31 31 31 12 39 64 35 64 36 62 35 65 33 61 31 63 32 66 34 65 38 30 00") },
  { "auth.resendCode with reason (flags.0)",
    { _ = "auth.resendCode", phone_number = "15550001111", phone_code_hash = HASH, reason = "no_play_integrity" },
    unhex("23 75 e4 ca 01 00 00 00 0b 31 35 35 35 30 30 30 31 31 31 31 12 39 64 35 64 36 62 35 65 33 61 31 63 32 66 34 65 38 30 00 11 6e 6f 5f 70 6c 61 79 5f 69 6e 74 65 67 72 69 74 79 00 00") },
  { "auth.sentCode (sms, next_type, timeout)", SENT_SMS_VALUE, SENT_SMS },
  { "auth.sentCode (flash call, no optional fields)",
    { _ = "auth.sentCode", type = { _ = "auth.sentCodeTypeFlashCall", pattern = "+1555***" }, phone_code_hash = HASH },
    SENT_FLASH },
  -- rows built from the TL rules
  { "Vector<long>", { _ = "msgs_ack", msg_ids = { 1, -2 } },
    u32(0x62d6b459) .. u32(0x1cb5c415) .. u32(2) .. i64(1) .. i64(-2) },
  { "empty vector", { _ = "msgs_ack", msg_ids = {} }, u32(0x62d6b459) .. u32(0x1cb5c415) .. u32(0) },
  { "long extremes", { _ = "ping", ping_id = math.mininteger }, u32(0x7abe77ec) .. i64(math.mininteger) },
  { "int extremes", { _ = "rpc_error", error_code = -2147483648, error_message = "" },
    u32(0x2144ca19) .. i32(-2147483648) .. "\0\0\0\0" },
  { "int128", { _ = "req_pq_multi", nonce = string.rep("\1\2\3\4", 4) }, u32(0xbe7e8ef1) .. string.rep("\1\2\3\4", 4) },
  { "string of 254 bytes (long length form)", { _ = "rpc_error", error_code = 1, error_message = string.rep("x", 254) },
    u32(0x2144ca19) .. i32(1) .. "\254\254\0\0" .. string.rep("x", 254) .. "\0\0" },
  { "bytes with NULs and high bytes", { _ = "inputMediaStakeDice", game_hash = "g", ton_amount = 5, client_seed = "\0\255\0" },
    u32(0xf3a9244a) .. tlstr("g") .. i64(5) .. tlstr("\0\255\0") },
  { "double", { _ = "inputGeoPoint", lat = 1.5, long = -0.25 },
    u32(0x48222faf) .. u32(0) .. string.pack("<d", 1.5) .. string.pack("<d", -0.25) },
  { "double with optional int", { _ = "inputGeoPoint", lat = 0.0, long = 1e300, accuracy_radius = 10 },
    u32(0x48222faf) .. u32(1) .. string.pack("<d", 0.0) .. string.pack("<d", 1e300) .. i32(10) },
  { "Bool param", { _ = "account.updateStatus", offline = false }, u32(0x6628562c) .. u32(0xbc799737) },
  { "flag true and flags2", { _ = "codeSettings", allow_flashcall = true, unknown_number = true },
    u32(0xad253d78) .. u32(1 | 1 << 9) },
  { "bare vector of bare constructors",
    { _ = "future_salts", req_msg_id = 7, now = 8, salts = { { _ = "future_salt", valid_since = 1, valid_until = 2, salt = 3 } } },
    u32(0xae500895) .. i64(7) .. i32(8) .. u32(1) .. i32(1) .. i32(2) .. i64(3) },
  { "a method as !X", { _ = "invokeWithLayer", layer = 223, query = { _ = "help.getConfig" } },
    u32(0xda9b0d0d) .. i32(223) .. u32(0xc4f9186b) },
}

describe("tl codec", function()
  describe("golden rows", function()
    for _, row in ipairs(golden) do
      it("encodes " .. row[1], function()
        assert.equal(hex(row[3]), hex(tl.encode(row[2])))
      end)
      it("decodes " .. row[1], function()
        local v, n = tl.decode(row[3])
        assert.same(row[2], v)
        assert.equal(#row[3], n)
      end)
    end

    it("encodes the first request of a connection", function()
      local b = tl.encode { _ = "invokeWithLayer", layer = tl.layer, query = {
        _ = "initConnection", api_id = 1, device_model = "d", system_version = "s", app_version = "a",
        system_lang_code = "en", lang_pack = "", lang_code = "en",
        query = { _ = "auth.sendCode", phone_number = "9996621234", api_id = 1, api_hash = "h", settings = {} } } }
      assert.equal(u32(0xda9b0d0d) .. i32(223) .. u32(0xc1cd5ea9) .. u32(0) .. i32(1) .. tlstr("d") .. tlstr("s")
        .. tlstr("a") .. tlstr("en") .. tlstr("") .. tlstr("en") .. u32(0xa677244f) .. tlstr("9996621234") .. i32(1)
        .. tlstr("h") .. u32(0xad253d78) .. u32(0), b)
      -- `settings = {}` became a codeSettings: `_` may be left out for a type with one constructor
      local v = tl.decode(b)
      assert.equal("codeSettings", v.query.query.settings._)
    end)

    it("wraps already encoded bytes in a !X position", function()
      local inner = tl.encode { _ = "help.getConfig" }
      assert.equal(tl.encode { _ = "invokeWithLayer", layer = 223, query = { _ = "help.getConfig" } },
        tl.encode { _ = "invokeWithLayer", layer = 223, query = inner })
    end)

    it("decodes from an offset and reports the bytes read", function()
      local v, n = tl.decode("abcd" .. SENT_FLASH .. "tail", 4)
      assert.equal("auth.sentCodeTypeFlashCall", v.type._)
      assert.equal(#SENT_FLASH, n)
      assert.has_error(function() tl.decode("abc", 4) end, "bad argument #2 to 'decode' (offset out of range)")
      assert.has_error(function() tl.decode("abc", -1) end, "bad argument #2 to 'decode' (offset out of range)")
    end)
  end)

  describe("results by method", function()
    it("decodes Vector<int> and Vector<long> answers", function()
      local ints = u32(0x1cb5c415) .. u32(3) .. i32(1) .. i32(-1) .. i32(2147483647)
      assert.same({ 1, -1, 2147483647 }, (tl.decode_result("contacts.getContactIDs", ints)))
      local longs = u32(0x1cb5c415) .. u32(1) .. i64(-5)
      local v, n = tl.decode_result("messages.receivedQueue", longs)
      assert.same({ -5 }, v)
      assert.equal(16, n)
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 0: a Vector needs its element type (use tl.decode_result)"), { tl.decode(ints) })
    end)

    it("decodes Bool answers as booleans and objects as tables", function()
      assert.is_true((tl.decode_result("account.updateStatus", u32(0x997275b5))))
      assert.is_false((tl.decode_result("account.updateStatus", u32(0xbc799737))))
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 0: expected a Bool, got id 0x5e002502"),
        { tl.decode_result("account.updateStatus", SENT_SMS) })
      assert.same(SENT_SMS_VALUE, (tl.decode_result("auth.resendCode", SENT_SMS)))
      assert.has_error(function() tl.decode_result("auth.nope", "") end,
        "bad argument #1 to 'decode_result' (unknown method \"auth.nope\")")
    end)
  end)

  describe("by-hand combinators", function()
    it("encodes and decodes msg_container with rpc_result inside", function()
      local c = { _ = "msg_container", messages = {
        { msg_id = 0x5e0b700000000001, seqno = 1, body = { _ = "rpc_result", req_msg_id = 42, result = SENT_SMS_VALUE } },
        { msg_id = 0x5e0b700000000005, seqno = 2, body = { _ = "msgs_ack", msg_ids = { 42 } } },
      } }
      local b = tl.encode(c)
      local body1 = u32(0xf35c6d01) .. i64(42) .. SENT_SMS
      local body2 = u32(0x62d6b459) .. u32(0x1cb5c415) .. u32(1) .. i64(42)
      assert.equal(hex(u32(0x73f1f8dc) .. u32(2) .. i64(0x5e0b700000000001) .. i32(1) .. i32(#body1) .. body1
        .. i64(0x5e0b700000000005) .. i32(2) .. i32(#body2) .. body2), hex(b))
      local v, n = tl.decode(b)
      c.messages[1].bytes = #body1
      c.messages[2].bytes = #body2
      assert.same(c, v)
      assert.equal(#b, n)
    end)

    it("keeps a Vector result of rpc_result as raw bytes", function()
      local ints = u32(0x1cb5c415) .. u32(2) .. i32(5) .. i32(6)
      local b = u32(0xf35c6d01) .. i64(9) .. ints
      local v = tl.decode(b)
      assert.same({ _ = "rpc_result", req_msg_id = 9, result = ints }, v)
      assert.equal(b, tl.encode(v))
      assert.same({ 5, 6 }, (tl.decode_result("contacts.getContactIDs", v.result)))
    end)

    it("inflates gzip_packed transparently, wherever a boxed value may be", function()
      local packed = tl.encode { _ = "gzip_packed", packed_data = tl.gzip(SENT_SMS) }
      assert.equal(u32(0x3072cfa1), packed:sub(1, 4))
      local v, n = tl.decode(packed)
      assert.same(SENT_SMS_VALUE, v)
      assert.equal(#packed, n)
      assert.same(SENT_SMS_VALUE, (tl.decode_result("auth.resendCode", packed)))
      local r = tl.decode(u32(0xf35c6d01) .. i64(1) .. packed)
      assert.same(SENT_SMS_VALUE, r.result)
      -- inside a field, and a gzipped Vector<int> answer
      local ints = u32(0x1cb5c415) .. u32(1) .. i32(77)
      assert.same({ 77 }, (tl.decode_result("contacts.getContactIDs",
        tl.encode { _ = "gzip_packed", packed_data = tl.gzip(ints) })))
      local inner = tl.encode { _ = "gzip_packed", packed_data = tl.gzip(tl.encode { _ = "auth.codeTypeCall" }) }
      local outer = SENT_SMS:sub(1, 36) .. inner .. i32(120)
      assert.same(SENT_SMS_VALUE, (tl.decode(outer)))
    end)

    it("caps gzip_packed at 16 MiB and reports corrupt data", function()
      local big = tl.encode { _ = "gzip_packed",
        packed_data = tl.gzip(u32(0x1cb5c415) .. u32(0) .. string.rep("\0", 16 * 1024 * 1024)) }
      assert.same(helpers.nil_err(-12, "GZIP_INVALID", "offset 0: gzip_packed: corrupt, or inflates past 16 MiB"), { tl.decode(big) })
      local bad = tl.encode { _ = "gzip_packed", packed_data = "not gzip" }
      assert.same(helpers.nil_err(-12, "GZIP_INVALID", "offset 0: gzip_packed: corrupt, or inflates past 16 MiB"), { tl.decode(bad) })
      local trunc = tl.encode { _ = "gzip_packed", packed_data = tl.gzip(SENT_SMS:sub(1, 10)) }
      assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "offset 8 (in gzip_packed at offset 0): input ends inside an object id"), { tl.decode(trunc) })
    end)
  end)

  describe("encoding errors", function()
    local deep = { _ = "jsonNull" }
    for _ = 1, 70 do deep = { _ = "jsonArray", value = { deep } } end
    local rows = {
      { { _ = "auth.resendCode", phone_number = "15550001111" },
        "auth.resendCode: phone_code_hash: expected string, got nil" },
      { { _ = "auth.resendCode", phone_number = 15550001111, phone_code_hash = HASH },
        "auth.resendCode: phone_number: expected string, got number" },
      { { _ = "auth.resendCodes" }, 'unknown constructor or method "auth.resendCodes"' },
      { { phone_number = "1" }, "missing _ (a constructor or method name)" },
      { { _ = 5 }, "_: expected string, got number" },
      { { _ = "ping_delay_disconnect", ping_id = 1, disconnect_delay = 2147483648 },
        "ping_delay_disconnect: disconnect_delay: int out of range (2147483648)" },
      { { _ = "ping_delay_disconnect", ping_id = 1, disconnect_delay = -2147483649 },
        "ping_delay_disconnect: disconnect_delay: int out of range (-2147483649)" },
      { { _ = "ping_delay_disconnect", ping_id = 1, disconnect_delay = 1.5 },
        "ping_delay_disconnect: disconnect_delay: expected int, got non-integer number" },
      { { _ = "ping", ping_id = "1" }, "ping: ping_id: expected long, got string" },
      { { _ = "ping", ping_id = 2 ^ 63 }, "ping: ping_id: expected long, got non-integer number" },
      { { _ = "req_pq_multi", nonce = "short" }, "req_pq_multi: nonce: expected a 16-byte string, got 5 bytes" },
      { { _ = "req_pq_multi" }, "req_pq_multi: nonce: expected int128 (a 16-byte string), got nil" },
      { { _ = "inputGeoPoint", lat = "1", long = 2 }, "inputGeoPoint: lat: expected double, got string" },
      { { _ = "account.updateStatus", offline = 1 }, "account.updateStatus: offline: expected boolean, got number" },
      { { _ = "auth.sendCode", phone_number = "1", api_id = 1, api_hash = "h", settings = { _ = "inputPeerSelf" } },
        "auth.sendCode: settings: expected CodeSettings, got inputPeerSelf (InputPeer)" },
      { { _ = "auth.sendCode", phone_number = "1", api_id = 1, api_hash = "h", settings = "x" },
        "auth.sendCode: settings: expected CodeSettings (a table), got string" },
      { { _ = "auth.sendCode", phone_number = "1", api_id = 1, api_hash = "h",
          settings = { allow_flashcall = "yes" } },
        "auth.sendCode: settings: allow_flashcall: expected boolean, got string" },
      { { _ = "messages.getHistory", peer = {}, offset_id = 0, offset_date = 0, add_offset = 0, limit = 1,
          max_id = 0, min_id = 0, hash = 0 },
        "messages.getHistory: peer: missing _ (a constructor of InputPeer)" },
      { { _ = "messages.getHistory", peer = { _ = "inputPeerUserx" } },
        'messages.getHistory: peer: unknown constructor "inputPeerUserx"' },
      { { _ = "msgs_ack", msg_ids = { 1, "x" } }, "msgs_ack: msg_ids[2]: expected long, got string" },
      { { _ = "msgs_ack", msg_ids = 5 }, "msgs_ack: msg_ids: expected table (a sequence), got number" },
      { { _ = "invokeWithLayer", layer = 223, query = { _ = "auth.resendCode", phone_number = "1" } },
        "invokeWithLayer: query: auth.resendCode: phone_code_hash: expected string, got nil" },
      { { _ = "invokeWithLayer", layer = 223, query = "x" },
        "invokeWithLayer: query: expected encoded TL bytes (a multiple of 4 bytes), got 1 bytes" },
      { { _ = "invokeWithLayer", layer = 223, query = 5 }, "invokeWithLayer: query: expected table, got number" },
      { { _ = "channelFull", kicked_count = 1 }, "channelFull: id: expected long, got nil" },
      { { _ = "msg_container", messages = { { msg_id = 1, seqno = "2", body = {} } } },
        "msg_container: messages[1]: seqno: expected integer, got string" },
    }
    for i, row in ipairs(rows) do
      it("row " .. i .. ": " .. row[2], function()
        assert.has_error(function() tl.encode(row[1]) end, row[2])
      end)
    end

    it("refuses nesting deeper than 64", function()
      local ok, err = pcall(tl.encode, deep)
      assert.is_false(ok)
      assert.matches("^jsonArray: value%[1%]: value%[1%]: .*: nesting deeper than 64$", err)
    end)

    it("refuses a flag bit shared by a present and a missing field", function()
      -- channelFull: kicked_count and banned_count are both flags.2
      local v = {
        _ = "channelFull", id = 1, about = "", read_inbox_max_id = 0, read_outbox_max_id = 0, unread_count = 0,
        chat_photo = { _ = "photoEmpty", id = 0 }, notify_settings = { _ = "peerNotifySettings" }, bot_info = {},
        pts = 0, kicked_count = 3,
      }
      assert.has_error(function() tl.encode(v) end,
        "channelFull: banned_count: expected a value: flags.2 is set by another field")
      v.banned_count = 4
      assert.same(v, (tl.decode(tl.encode(v))))
    end)

    it("checks its argument", function()
      assert.has_error(function() tl.encode("x") end, "bad argument #1 to 'encode' (table expected, got string)")
      assert.has_error(function() tl.decode({}) end)
    end)

    it("ignores flags given by the caller and treats false flags as absent", function()
      local a = tl.encode { _ = "codeSettings", flags = 0xffff, allow_flashcall = false, current_number = true }
      assert.equal(u32(0xad253d78) .. u32(2), a)
      assert.same({ _ = "codeSettings", current_number = true }, (tl.decode(a)))
    end)
  end)

  describe("hostile input", function()
    it("fails cleanly on every truncation of the golden bytes", function()
      for _, row in ipairs(golden) do
        local b = row[3]
        for i = 0, #b - 1 do
          local v, err = tl.decode(b:sub(1, i))
          assert.is_nil(v, row[1] .. " cut at " .. i)
          assert.same({ -2, "INPUT_TRUNCATED" }, { err.code, err.message }, row[1] .. " cut at " .. i)
          assert.matches("^offset %d+: ", err.detail)
        end
      end
      assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "offset 0: input ends inside an object id"), { tl.decode("") })
      assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "offset 16: input ends inside a string"), { tl.decode(SENT_SMS:sub(1, 20)) })
    end)

    it("names unknown constructors, bad vector counts, bad lengths and deep nesting", function()
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 0: unknown constructor 0xdeadbeef"), { tl.decode(u32(0xdeadbeef)) })
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 8: unknown constructor 0x12345678"),
        { tl.decode(SENT_SMS:sub(1, 8) .. u32(0x12345678)) })
      assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "offset 8: vector count 2147483647 exceeds the input (8 bytes left)"),
        { tl.decode(u32(0x62d6b459) .. u32(0x1cb5c415) .. u32(0x7fffffff) .. i64(1)) })
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 4: expected a Vector, got id 0x00000001"),
        { tl.decode(u32(0x62d6b459) .. u32(1) .. u32(0)) })
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 8: bad string length prefix 0xff"),
        { tl.decode(u32(0x2144ca19) .. i32(1) .. "\255\0\0\0") })
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 4: expected a Bool, got id 0x00000000"),
        { tl.decode(u32(0x6628562c) .. u32(0)) })
      assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "offset 4: msg_container count 2 exceeds the input"),
        { tl.decode(u32(0x73f1f8dc) .. u32(2) .. string.rep("\0", 16)) })
      assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "offset 20: message length 8 is bad (4 bytes left)"),
        { tl.decode(u32(0x73f1f8dc) .. u32(1) .. i64(1) .. i32(1) .. i32(8) .. u32(0x62d6b459)) })
      local deep = u32(0x56730bcc)
      for _ = 1, 70 do deep = u32(0xf7444763) .. u32(0x1cb5c415) .. u32(1) .. deep end
      local v, err = tl.decode(deep)
      assert.is_nil(v)
      assert.same({ -21, "NESTING_TOO_DEEP" }, { err.code, err.message })
      assert.matches("^offset %d+: nesting deeper than 64$", err.detail)
    end)

    -- The bindings' error table of a decoder failure: a negative code, its name, the offset.
    local function decode_failure(e)
      return type(e) == "table" and math.type(e.code) == "integer" and e.code < 0
        and e.message:match("^[A-Z_]+$") ~= nil and e.detail:match("^offset %d+") ~= nil
    end

    it("never crashes on mutated or random bytes", function()
      -- a fixed generator so that the spec is reproducible
      local seed = 12345
      local function rnd(n)
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n
      end
      local samples = { SENT_SMS, SENT_FLASH, golden[15][3], golden[16][3], golden[17][3] }
      for _, b in ipairs(samples) do
        for i = 1, #b do
          for _, x in ipairs { 0, 0xff, 0x80 } do
            local m = b:sub(1, i - 1) .. string.char(x) .. b:sub(i + 1)
            local v, e = tl.decode(m)
            assert.is_true(v ~= nil or decode_failure(e))
          end
        end
      end
      local ids = { 0x1cb5c415, 0x3072cfa1, 0x73f1f8dc, 0xf35c6d01, 0x5e002502, 0xf7444763, 0x62d6b459 }
      for _ = 1, 3000 do
        local parts = {}
        for k = 1, rnd(12) + 1 do
          parts[k] = rnd(3) == 0 and u32(ids[rnd(#ids) + 1]) or u32(rnd(2147483647) * (rnd(2) + 1))
        end
        local v, e = tl.decode(table.concat(parts))
        assert.is_true(v ~= nil or decode_failure(e))
      end
    end)
  end)

  describe("round trip of every constructor and method", function()
    -- Generated values: `full` fills every optional field, otherwise none.
    local counter = 0
    local function next_int()
      counter = counter + 1
      return ({ 0, 1, -1, 2147483647, -2147483648, 123456 })[counter % 6 + 1]
    end
    local function next_long()
      counter = counter + 1
      return ({ 0, math.maxinteger, math.mininteger, 0x1122334455667788, -42 })[counter % 5 + 1]
    end
    local info_cache = {}
    local function info(name)
      local v = info_cache[name]
      if v == nil then v = tl.info(name) or false; info_cache[name] = v end
      return v
    end
    local gen_type
    -- cost of a constructor: its required object-typed fields (to end recursion)
    local function cost(c)
      local n = 0
      for _, p in ipairs(info(c).params) do
        if not p.flag and p.type:match("^[%u%%]") and p.type ~= "Bool" then n = n + 1 end
      end
      return n
    end
    local function gen_comb(name, depth, full)
      assert(depth < 24, "generator recursion through " .. name)
      local v = { _ = name }
      for _, p in ipairs(info(name).params) do
        if p.type ~= "#" and (not p.flag or (full and depth < 3)) then
          v[p.name] = gen_type(p.type, depth + 1, full)
        end
      end
      return v
    end
    function gen_type(t, depth, full)
      if t == "int" then return next_int()
      elseif t == "long" then return next_long()
      elseif t == "double" then return 0.5
      elseif t == "string" then return "str"
      elseif t == "bytes" then return "\0\1\255"
      elseif t == "int128" then return string.rep("\xab", 16)
      elseif t == "int256" then return string.rep("\xcd", 32)
      elseif t == "Bool" then counter = counter + 1; return counter % 2 == 0
      elseif t == "true" then return true
      elseif t == "!X" then return { _ = "help.getConfig" }
      end
      local elem = t:match("^[Vv]ector<(.*)>$")
      if elem then
        if depth > 4 then return {} end
        return { gen_type(elem, depth + 1, full), gen_type(elem, depth + 1, full) }
      end
      local bare = t:match("^%%(.*)$")
      if bare then return gen_comb(info(bare).constructors[1], depth, full) end
      if t:match("^[%w_]+%.?[%l]") and info(t) and info(t).kind == "constructor" then
        return gen_comb(t, depth, full) -- a bare constructor name
      end
      local ty = assert(info(t), "unknown type " .. t)
      local ctors = ty.constructors
      local pick
      if depth < 3 then
        counter = counter + 1
        pick = ctors[counter % #ctors + 1]
      else
        for _, c in ipairs(ctors) do
          if not pick or cost(c) < cost(pick) then pick = c end
        end
      end
      return gen_comb(pick, depth, full)
    end

    local function expect_decoded(name, v)
      -- Bool's constructors decode as booleans
      if name == "boolTrue" then return true elseif name == "boolFalse" then return false end
      return v
    end

    local function check(names)
      local n = 0
      for _, name in ipairs(names) do
        for _, full in ipairs { true, false } do
          local v = gen_comb(name, 0, full)
          local ok, b = pcall(tl.encode, v)
          if not ok then error(name .. ": " .. tostring(b)) end
          local d, used = tl.decode(b)
          if d == nil then error(name .. ": " .. tostring(used)) end
          assert.equal(#b, used, name)
          assert.same(expect_decoded(name, v), d, name)
          if type(d) == "table" then assert.equal(b, tl.encode(d), name) end
          n = n + 1
        end
      end
      return n
    end

    it("constructors", function()
      local names = tl.constructors()
      assert.is_true(#names > 1500)
      assert.equal(2 * #names, check(names))
    end)

    it("methods", function()
      local names = tl.methods()
      assert.is_true(#names > 700)
      assert.equal(2 * #names, check(names))
    end)
  end)
end)
