-- core.session: the sans-IO client session, driven by scripted server packets.
-- The server side is built here with core.transport's message layer (x = 8),
-- the client's packets are opened with the same layer (x = 0).
local core = require("mtproto.core")
local T = core.transport

local KEY = {}
for i = 0, 255 do KEY[#KEY + 1] = string.char((i * 7 + 3) % 256) end
KEY = table.concat(KEY)
local OTHER_KEY = string.rep("\42", 256)
local SALT = 0x1122334455667788
local NOW = 1795600000.25

local function u32(n) return string.pack("<I4", n) end
local function i32(n) return string.pack("<i4", n) end
local function i64(n) return string.pack("<i8", n) end
local function tlstr(s)
  local head = #s < 254 and string.char(#s) or ("\254" .. string.pack("<I3", #s))
  local pad = (4 - (#head + #s) % 4) % 4
  return head .. s .. string.rep("\0", pad)
end
local function vec_long(ids)
  local t = { u32(0x1cb5c415), u32(#ids) }
  for _, id in ipairs(ids) do t[#t + 1] = i64(id) end
  return table.concat(t)
end

-- CRC32 and a gzip stream with one stored deflate block (RFC 1951/1952).
local CRC = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1) ~= 0 and (0xedb88320 ~ (c >> 1)) or (c >> 1) end
  CRC[i] = c
end
local function crc32(s)
  local c = 0xffffffff
  for i = 1, #s do c = CRC[(c ~ s:byte(i)) & 0xff] ~ (c >> 8) end
  return c ~ 0xffffffff
end
local function gzip_stored(data)
  assert(#data < 65536)
  return "\31\139\8\0\0\0\0\0\0\255" .. "\1" .. string.pack("<I2I2", #data, (~#data) & 0xffff)
      .. data .. string.pack("<I4I4", crc32(data), #data)
end

-- A request body and some answers (any TL object will do for the session).
local function req_body(n) return u32(0xc4f9186b) .. i32(n) end          -- help.getConfig-like
local function answer(n) return u32(0x232566ac) .. i32(n) .. i64(n * 1000) end
local function rpc_result(req_msg_id, obj) return u32(0xf35c6d01) .. i64(req_msg_id) .. obj end
local function rpc_error(code, msg) return u32(0x2144ca19) .. i32(code) .. tlstr(msg) end

-- A scripted server for one session.
local function server(sess, opts)
  opts = opts or {}
  local srv = { last = 0, offset = opts.offset or 0, salt = opts.salt or SALT }
  function srv:msg_id(mod4, at)
    self.last = T.msgid_next(self.last, self.offset, math.floor((at or NOW) * 1e9), mod4)
    return self.last
  end
  function srv:packet(body, o)
    o = o or {}
    return assert(T.msg_encrypt(o.key or KEY, 8, {
      salt = self.salt, session_id = o.session_id or sess:state().session_id,
      msg_id = o.msg_id or self:msg_id(o.mod4 or 1, o.at), seqno = o.seqno or 1, body = body,
    }))
  end
  -- { {body=, mod4=, seqno=}, ... } in one container
  function srv:container(items, o)
    local list = {}
    for _, it in ipairs(items) do
      list[#list + 1] = { msg_id = it.msg_id or self:msg_id(it.mod4 or 1, it.at), seqno = it.seqno or 1, body = it.body }
    end
    return self:packet(assert(T.container_pack(list)), o)
  end
  return srv
end

-- Opens a client packet: returns the message and the list of inner messages.
local function open(packet)
  local m = assert(T.msg_decrypt(KEY, 0, packet))
  local inner
  if m.body:sub(1, 4) == u32(0x73f1f8dc) then
    inner = assert(T.container_unpack(m.body))
  else
    inner = { { msg_id = m.msg_id, seqno = m.seqno, body = m.body } }
  end
  return m, inner
end

local function new_session(extra)
  local o = { auth_key = KEY, salt = SALT }
  for k, v in pairs(extra or {}) do o[k] = v end
  return core.session.new(o)
end

local function find_body(inner, prefix)
  for _, it in ipairs(inner) do
    if it.body:sub(1, #prefix) == prefix then return it end
  end
end

describe("core.session", function()
  it("packs one request alone: salt, session_id, msg_id % 4 == 0, odd seqno", function()
    local s = new_session()
    local id = s:send(req_body(1))
    assert.is_true(id > 0)
    local pkt = assert(s:pack(NOW))
    assert.is_nil(s:pack(NOW), "nothing more to send")
    local m, inner = open(pkt)
    assert.equal(1, #inner)
    assert.equal(SALT, m.salt)
    assert.equal(s:state().session_id, m.session_id)
    assert.equal(0, m.msg_id % 4)
    assert.equal(1, m.seqno)
    assert.equal(req_body(1), m.body)
    -- the msg_id carries the clock: top 32 bits are unix seconds
    assert.equal(math.floor(NOW), m.msg_id >> 32)
    -- and the fraction of the second, scaled to 2^32 (a double clock: within a microsecond)
    assert.is_true(math.abs((NOW % 1) * 2^32 - (m.msg_id & 0xffffffff)) < 2^32 / 1e6)
  end)

  it("wraps the first request in invokeWithLayer(initConnection(...)), only once", function()
    local s = new_session { init = { api_id = 12345, device_model = "dev", system_version = "sys",
      app_version = "1.0", system_lang_code = "en", lang_pack = "", lang_code = "de", layer = 223 } }
    s:send(req_body(1))
    local _, inner = open(s:pack(NOW))
    local want = u32(0xda9b0d0d) .. i32(223) .. u32(0xc1cd5ea9) .. u32(0) .. i32(12345)
      .. tlstr("dev") .. tlstr("sys") .. tlstr("1.0") .. tlstr("en") .. tlstr("") .. tlstr("de")
      .. req_body(1)
    assert.equal(want, inner[1].body)
    s:send(req_body(2))
    _, inner = open(s:pack(NOW))
    assert.equal(req_body(2), inner[1].body)
  end)

  -- (they were "Unknown", "1.0" and app_version "0.1.0" here, and "0.1.0" in core.link's,
  -- whose own were "lua-mtproto" and "Lua 5.4": both now take the core's one set)
  it("fills the initConnection fields not given with the core's defaults: the package's version, the schema's layer", function()
    local s = new_session { init = { api_id = 777 } }
    s:send(req_body(1))
    local _, inner = open(s:pack(NOW))
    assert.equal("0.2.0", require("mtproto").VERSION)
    assert.equal(core.tl.layer, core.LAYER)
    local want = u32(0xda9b0d0d) .. i32(core.LAYER) .. u32(0xc1cd5ea9) .. u32(0) .. i32(777)
      .. tlstr("lua-mtproto") .. tlstr(_VERSION) .. tlstr("0.2.0") .. tlstr("en") .. tlstr("") .. tlstr("en")
      .. req_body(1)
    assert.equal(want, inner[1].body)
  end)

  it("keeps msg_ids strictly increasing and seqnos counting content messages", function()
    local s = new_session()
    for i = 1, 3 do s:send(req_body(i)) end
    local m, inner = open(s:pack(NOW))
    assert.equal(3, #inner)
    assert.equal(2 * 3, m.seqno, "container seqno is even, after 3 content messages")
    for i, it in ipairs(inner) do
      assert.equal(2 * (i - 1) + 1, it.seqno)
      assert.equal(0, it.msg_id % 4)
      assert.equal(req_body(i), it.body)
      if i > 1 then assert.is_true(it.msg_id > inner[i - 1].msg_id) end
      assert.is_true(m.msg_id > it.msg_id, "container id after its messages")
    end
  end)

  it("delivers rpc_result, rpc_error and gzip_packed results to the right ids", function()
    local s = new_session()
    local a, b, c = s:send(req_body(1)), s:send(req_body(2)), s:send(req_body(3))
    local _, inner = open(s:pack(NOW))
    local srv = server(s)
    local big = answer(77) .. string.rep("x", 400)
    local ev = s:receive(srv:container {
      { body = rpc_result(inner[2].msg_id, rpc_error(400, "PHONE_CODE_EXPIRED")) },
      { body = rpc_result(inner[3].msg_id, u32(0x3072cfa1) .. tlstr(gzip_stored(big))) },
      { body = rpc_result(inner[1].msg_id, answer(1)) },
    }, NOW)
    assert.same({
      { kind = "error", id = b, code = 400, message = "PHONE_CODE_EXPIRED" },
      { kind = "result", id = c, bytes = big },
      { kind = "result", id = a, bytes = answer(1) },
    }, ev)
    assert.equal(0, s:state().pending)
    -- an rpc_error inside gzip_packed is still an error
    local d = s:send(req_body(4))
    _, inner = open(s:pack(NOW))
    ev = s:receive(srv:packet(rpc_result(inner[1].msg_id,
      u32(0x3072cfa1) .. tlstr(gzip_stored(rpc_error(420, "FLOOD_WAIT_3"))))), NOW)
    assert.same({ { kind = "error", id = d, code = 420, message = "FLOOD_WAIT_3" } }, ev)
  end)

  it("acknowledges content-related server messages in the next packet", function()
    local s = new_session()
    s:send(req_body(1))
    local _, inner = open(s:pack(NOW))
    local srv = server(s)
    local upd_id = srv:msg_id(3)
    local res_id = srv:msg_id(1)
    s:receive(srv:container {
      { msg_id = upd_id, seqno = 1, body = u32(0x74ae4240) .. i32(5) },
      { msg_id = res_id, seqno = 3, body = rpc_result(inner[1].msg_id, answer(1)) },
    }, NOW)
    assert.equal(2, s:state().acks)
    assert.is_nil(s:pack(NOW), "acks alone wait for more")
    local m = open(assert(s:pack(NOW, true)))
    assert.equal(u32(0x62d6b459) .. vec_long { upd_id, res_id }, m.body)
    assert.equal(0, m.seqno % 2, "msgs_ack is not content-related")
    assert.equal(0, s:state().acks)
  end)

  it("re-sends after bad_server_salt under the new salt and a new msg_id", function()
    local s = new_session()
    local id = s:send(req_body(9))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    local NEW = 0x0102030405060708
    local ev = s:receive(srv:packet(u32(0xedab447b) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(48) .. i64(NEW),
      { seqno = 0 }), NOW)
    assert.same({}, ev)
    assert.equal(NEW, s:state().salt)
    local m2 = open(assert(s:pack(NOW)))
    assert.equal(NEW, m2.salt)
    assert.equal(req_body(9), m2.body)
    assert.is_true(m2.msg_id > m1.msg_id)
    srv.salt = NEW
    ev = s:receive(srv:packet(rpc_result(m2.msg_id, answer(9))), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(9) } }, ev)
    -- an answer to the old msg_id is not taken for the request
    assert.equal(0, s:state().pending)
  end)

  it("re-sends every message of a container named by bad_server_salt", function()
    local s = new_session()
    local ids = { s:send(req_body(1)), s:send(req_body(2)) }
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    s:receive(srv:packet(u32(0xedab447b) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(48) .. i64(77), { seqno = 0 }), NOW)
    local m2, inner = open(assert(s:pack(NOW)))
    assert.equal(77, m2.salt)
    assert.equal(2, #inner)
    assert.equal(req_body(1), inner[1].body)
    assert.equal(req_body(2), inner[2].body)
    srv.salt = 77
    local ev = s:receive(srv:container {
      { body = rpc_result(inner[1].msg_id, answer(1)) },
      { body = rpc_result(inner[2].msg_id, answer(2)) },
    }, NOW)
    assert.equal(ids[1], ev[1].id)
    assert.equal(ids[2], ev[2].id)
  end)

  it("takes the salt of new_session_created inside a container with the answer", function()
    local s = new_session()
    local id = s:send(req_body(5))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    local ev = s:receive(srv:container {
      { mod4 = 3, body = u32(0x9ec20908) .. i64(m1.msg_id) .. i64(4242) .. i64(0x55aa) },
      { body = rpc_result(m1.msg_id, answer(5)) },
    }, NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(5) } }, ev)
    assert.equal(0x55aa, s:state().salt)
    assert.is_nil(s:pack(NOW), "nothing re-sent: first_msg_id covers the request")
  end)

  it("queues updates and never confuses them with answers", function()
    local s = new_session()
    local id = s:send(req_body(5))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    local upd = u32(0x74ae4240) .. i32(1) .. i32(2)
    local ev = s:receive(srv:packet(upd, { mod4 = 3 }), NOW)
    assert.same({ { kind = "update", bytes = upd } }, ev)
    assert.equal(1, s:state().pending)
    -- a gzip_packed update is inflated
    ev = s:receive(srv:packet(u32(0x3072cfa1) .. tlstr(gzip_stored(upd)), { mod4 = 3 }), NOW)
    assert.same({ { kind = "update", bytes = upd } }, ev)
    ev = s:receive(srv:packet(rpc_result(m1.msg_id, answer(5))), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(5) } }, ev)
  end)

  it("corrects the clock from bad_msg_notification 16 and re-sends", function()
    local s = new_session()
    local id = s:send(req_body(3))
    local m1 = open(s:pack(NOW))
    local srv = server(s, { offset = 3600 })    -- the server's clock is an hour ahead
    local ev = s:receive(srv:packet(u32(0xa7eff811) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(16),
      { seqno = 0 }), NOW)
    assert.same({}, ev)
    assert.equal(3600, s:state().time_offset)
    local m2 = open(assert(s:pack(NOW)))
    assert.equal(math.floor(NOW) + 3600, m2.msg_id >> 32)
    assert.equal(req_body(3), m2.body)
    ev = s:receive(srv:packet(rpc_result(m2.msg_id, answer(3))), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(3) } }, ev)
  end)

  it("keeps the session when bad_msg 16 names a stale msg_id and the clocks agree", function()
    local s = new_session()
    local id = s:send(req_body(3))
    local m1 = open(s:pack(NOW - 400))            -- sent long ago (e.g. re-sent after a reconnect)
    local sid = s:state().session_id
    local srv = server(s)
    s:receive(srv:packet(u32(0xa7eff811) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(16), { seqno = 0 }), NOW)
    assert.equal(sid, s:state().session_id)
    assert.equal(0, s:state().time_offset)
    local m2 = open(assert(s:pack(NOW)))
    assert.equal(math.floor(NOW), m2.msg_id >> 32)
    local ev = s:receive(srv:packet(rpc_result(m2.msg_id, answer(3))), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(3) } }, ev)
  end)

  it("starts a new session when the corrected clock goes back (bad_msg 17)", function()
    local s = new_session()
    local id = s:send(req_body(3))
    local m1 = open(s:pack(NOW))
    local old_sid = s:state().session_id
    local srv = server(s, { offset = -3600 })
    s:receive(srv:packet(u32(0xa7eff811) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(17), { seqno = 0 }), NOW)
    assert.equal(-3600, s:state().time_offset)
    assert.are_not.equal(old_sid, s:state().session_id)
    local m2 = open(assert(s:pack(NOW)))
    assert.equal(math.floor(NOW) - 3600, m2.msg_id >> 32)
    assert.equal(1, m2.seqno)
    local ev = s:receive(srv:packet(rpc_result(m2.msg_id, answer(3))), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(3) } }, ev)
  end)

  it("fixes seq_no after bad_msg_notification 32 (too low) and 33 (too high)", function()
    local s = new_session()
    local id = s:send(req_body(3))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    s:receive(srv:packet(u32(0xa7eff811) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(32), { seqno = 0 }), NOW)
    local m2 = open(assert(s:pack(NOW)))
    assert.equal(req_body(3), m2.body)
    assert.is_true(m2.seqno > m1.seqno + 100 and m2.seqno % 2 == 1, m2.seqno)
    assert.is_true(m2.msg_id > m1.msg_id)
    local sid = s:state().session_id
    s:receive(srv:packet(u32(0xa7eff811) .. i64(m2.msg_id) .. i32(m2.seqno) .. i32(33), { seqno = 0 }), NOW)
    assert.are_not.equal(sid, s:state().session_id, "a new session starts the count again")
    local m3 = open(assert(s:pack(NOW)))
    assert.equal(1, m3.seqno)
    assert.equal(req_body(3), m3.body)
    local ev = s:receive(srv:packet(rpc_result(m3.msg_id, answer(3))), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(3) } }, ev)
  end)

  it("fails a request with BAD_MSG_<n> for other notification codes", function()
    local s = new_session()
    local id = s:send(req_body(3))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    local ev = s:receive(srv:packet(u32(0xa7eff811) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(35), { seqno = 0 }), NOW)
    assert.same({ { kind = "error", id = id, code = -6, message = "BAD_MSG_35" } }, ev)
  end)

  it("fails every request of a container named by a bad_msg_notification", function()
    local s = new_session()
    local ids = { s:send(req_body(1)), s:send(req_body(2)) }
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    local ev = s:receive(srv:packet(u32(0xa7eff811) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(35), { seqno = 0 }), NOW)
    assert.same({ { kind = "error", id = ids[1], code = -6, message = "BAD_MSG_35" },
                  { kind = "error", id = ids[2], code = -6, message = "BAD_MSG_35" } }, ev)
  end)

  it("remembers which container each request went in, one packet after another", function()
    local s = new_session()
    s:send(req_body(1)); s:send(req_body(2))
    local first = open(s:pack(NOW))
    s:send(req_body(3)); s:send(req_body(4))
    local second = open(s:pack(NOW))
    assert.is_true(second.msg_id > first.msg_id)
    local srv = server(s)
    -- only the second container's requests go out again
    s:receive(srv:packet(u32(0xedab447b) .. i64(second.msg_id) .. i32(second.seqno) .. i32(48) .. i64(77), { seqno = 0 }), NOW)
    local _, inner = open(assert(s:pack(NOW)))
    assert.equal(2, #inner)
    assert.equal(req_body(3), inner[1].body)
    assert.equal(req_body(4), inner[2].body)
    -- a request sent alone is in no container: a notification about it names its msg_id
    local id5 = s:send(req_body(5))
    local alone = open(s:pack(NOW))
    assert.equal(req_body(5), alone.body)
    local ev = s:receive(srv:packet(u32(0xa7eff811) .. i64(alone.msg_id) .. i32(alone.seqno) .. i32(35), { seqno = 0 }), NOW)
    assert.same({ { kind = "error", id = id5, code = -6, message = "BAD_MSG_35" } }, ev)
  end)

  describe("drops and logs messages that fail a check", function()
    local s, srv, m1, logs
    before_each(function()
      logs = {}
      s = new_session { log = function(_, msg) logs[#logs + 1] = msg end }
      s:send(req_body(1))
      m1 = open(s:pack(NOW))
      srv = server(s)
    end)

    local function dropped(pkt, err, pattern)
      local ev, e = s:receive(pkt, NOW)
      assert.same({}, ev)
      assert.equal(err, e.detail)
      assert.equal("integer", math.type(e.code))
      assert.matches("^[A-Z_]+$", e.message)
      assert.equal(1, s:state().pending, "the request still waits")
      if pattern then assert.matches(pattern, logs[#logs]) end
    end

    it("a duplicate server msg_id (replay)", function()
      local pkt = srv:packet(u32(0x74ae4240) .. i32(1), { mod4 = 3 })
      assert.equal(1, #s:receive(pkt, NOW))
      dropped(pkt, "replayed msg_id", "seen before")
      assert.equal(1, s:state().dropped)
    end)

    it("a duplicate inside a container", function()
      local id = srv:msg_id(3)
      local ev = s:receive(srv:container { { msg_id = id, body = u32(0x74ae4240) .. i32(1) },
        { msg_id = id, body = u32(0x74ae4240) .. i32(2) } }, NOW)
      assert.equal(1, #ev)
      assert.equal(u32(0x74ae4240) .. i32(1), ev[1].bytes)
    end)

    it("a wrong session_id", function()
      dropped(srv:packet(rpc_result(m1.msg_id, answer(1)), { session_id = 12345 }), "wrong session_id", "session_id")
    end)

    it("a msg_id more than 300 s old or 30 s ahead, or even", function()
      dropped(srv:packet(rpc_result(m1.msg_id, answer(1)), { at = NOW - 301 }), "bad msg_id", "away")
      srv.last = 0
      dropped(srv:packet(rpc_result(m1.msg_id, answer(1)), { at = NOW + 31 }), "bad msg_id", "away")
      dropped(srv:packet(rpc_result(m1.msg_id, answer(1)), { msg_id = (math.floor(NOW) << 32) + 8 }), "bad msg_id", "even")
    end)

    it("another key (auth_key_id) and a tampered msg_key", function()
      dropped(srv:packet(rpc_result(m1.msg_id, answer(1)), { key = OTHER_KEY }), "wrong auth_key_id")
      local pkt = srv:packet(rpc_result(m1.msg_id, answer(1)))
      local bad = pkt:sub(1, 8) .. string.char(pkt:byte(9) ~ 1) .. pkt:sub(10)
      dropped(bad, "msg_key mismatch")
      local flipped = pkt:sub(1, 40) .. string.char(pkt:byte(41) ~ 1) .. pkt:sub(42)
      dropped(flipped, "msg_key mismatch")
      dropped(pkt:sub(1, 30), "input is truncated")
      -- the genuine packet still works afterwards
      assert.equal(1, #s:receive(pkt, NOW))
    end)
  end)

  it("answers msgs_state_req, honours msg_resend_req and re-sends after a reconnect", function()
    local s = new_session()
    local id = s:send(req_body(1))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    local seen = srv:msg_id(3)
    s:receive(srv:packet(u32(0x74ae4240) .. i32(1), { msg_id = seen }), NOW)
    local req_id = srv:msg_id(1)
    s:receive(srv:packet(u32(0xda69fb52) .. vec_long { seen, seen + 1000000000 }, { msg_id = req_id }), NOW)
    local _, inner = open(assert(s:pack(NOW)))
    local info = find_body(inner, u32(0x04deb57d))
    assert.equal(u32(0x04deb57d) .. i64(req_id) .. tlstr("\4\3"), info.body)
    assert.is_not_nil(find_body(inner, u32(0x62d6b459)), "acks ride along")
    -- msg_resend_req: the same msg_id again
    s:receive(srv:packet(u32(0x7d861a08) .. vec_long { m1.msg_id }), NOW)
    _, inner = open(assert(s:pack(NOW)))
    local again = find_body(inner, req_body(1))
    assert.equal(m1.msg_id, again.msg_id)
    assert.equal(m1.seqno, again.seqno)
    -- a new connection: waiting requests go out again under the same msg_id
    s:new_connection()
    local m3 = open(assert(s:pack(NOW)))
    assert.equal(m1.msg_id, m3.msg_id)
    local ev = s:receive(srv:packet(rpc_result(m1.msg_id, answer(1))), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(1) } }, ev)
    -- the same answer again (the server answered both copies) is dropped as a replay or ignored
    ev = s:receive(srv:packet(rpc_result(m1.msg_id, answer(1))), NOW)
    assert.same({}, ev)
  end)

  it("pipelines thousands of requests in containers of at most 1020 messages", function()
    local s = new_session()
    local N = 3000
    local ids = {}
    for i = 1, N do ids[i] = s:send(req_body(i)) end
    local by_msg, packets = {}, 0
    while true do
      local pkt = s:pack(NOW)
      if not pkt then break end
      packets = packets + 1
      local _, inner = open(pkt)
      assert.is_true(#inner <= 1020)
      for _, it in ipairs(inner) do by_msg[#by_msg + 1] = it end
    end
    assert.equal(3, packets)
    assert.equal(N, #by_msg)
    local srv = server(s)
    local got = 0
    for first = 1, N, 500 do
      local items = {}
      for i = first, math.min(N, first + 499) do
        local k = math.min(N, first + 499) - (i - first)  -- answer in reverse order within the batch
        items[#items + 1] = { body = rpc_result(by_msg[k].msg_id, answer(k)) }
      end
      for _, e in ipairs(s:receive(srv:container(items), NOW)) do
        local k = string.unpack("<i4", e.bytes, 5)
        assert.equal(ids[k], e.id)
        got = got + 1
      end
    end
    assert.equal(N, got)
    assert.equal(0, s:state().pending)
  end)

  it("answers msg_detailed_info with msg_resend_req or msgs_ack", function()
    local s = new_session()
    local id = s:send(req_body(1))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    local answer_id = srv:msg_id(1) + 400
    -- the answer to a waiting request is announced: ask for it
    s:receive(srv:packet(u32(0x276d3ec6) .. i64(m1.msg_id) .. i64(answer_id) .. i32(100) .. i32(0), { seqno = 0 }), NOW)
    local _, inner = open(assert(s:pack(NOW)))
    assert.equal(u32(0x7d861a08) .. vec_long { answer_id }, inner[1].body)
    assert.equal(1, inner[1].seqno % 2)
    -- an answer to nothing we wait for (msg_new_detailed_info of a message seen): just ack
    local seen = srv:msg_id(3)
    s:receive(srv:packet(u32(0x74ae4240) .. i32(1), { msg_id = seen, seqno = 0 }), NOW)
    s:receive(srv:packet(u32(0x809db6df) .. i64(seen) .. i32(100) .. i32(0), { seqno = 0 }), NOW)
    local m = open(assert(s:pack(NOW, true)))
    assert.equal(u32(0x62d6b459) .. vec_long { seen }, m.body)
    local ev = s:receive(srv:packet(rpc_result(m1.msg_id, answer(1)), { msg_id = answer_id }), NOW)
    assert.same({ { kind = "result", id = id, bytes = answer(1) } }, ev)
  end)

  it("completes ping with pong and get_future_salts with future_salts (and uses the salts)", function()
    local s = new_session()
    local ping = s:send(u32(0x7abe77ec) .. i64(777))
    local fs = s:send(u32(0xb921bd04) .. i32(2))
    local _, inner = open(s:pack(NOW))
    local srv = server(s)
    local pong = u32(0x347773c5) .. i64(inner[1].msg_id) .. i64(777)
    local t = math.floor(NOW)
    local salts = u32(0xae500895) .. i64(inner[2].msg_id) .. i32(t) .. i32(2)
      .. i32(t - 100) .. i32(t - 10) .. i64(111)      -- expired
      .. i32(t - 10) .. i32(t + 3600) .. i64(222)     -- valid now
    local ev = s:receive(srv:container { { body = pong, seqno = 0 }, { body = salts, seqno = 0 } }, NOW)
    assert.same({ { kind = "result", id = ping, bytes = pong }, { kind = "result", id = fs, bytes = salts } }, ev)
    s:send(req_body(1))
    local m = open(s:pack(NOW))
    assert.equal(222, m.salt)
  end)

  it("re-sends requests older than first_msg_id of new_session_created", function()
    local s = new_session()
    local a = s:send(req_body(1))
    local m1 = open(s:pack(NOW))
    local b = s:send(req_body(2))
    local m2 = open(s:pack(NOW))
    local srv = server(s)
    s:receive(srv:packet(u32(0x9ec20908) .. i64(m2.msg_id) .. i64(1) .. i64(SALT), { seqno = 0 }), NOW)
    local m3 = open(assert(s:pack(NOW)))
    assert.equal(req_body(1), m3.body)
    assert.is_true(m3.msg_id > m2.msg_id)
    local ev = s:receive(srv:container { { body = rpc_result(m3.msg_id, answer(1)) }, { body = rpc_result(m2.msg_id, answer(2)) } }, NOW)
    assert.same({ { kind = "result", id = a, bytes = answer(1) }, { kind = "result", id = b, bytes = answer(2) } }, ev)
    assert.is_not_nil(m1)
  end)

  it("wraps the request re-sent first on a new connection, keeping its msg_id", function()
    local s = new_session { init = { api_id = 7 } }
    s:send(req_body(1))
    local m1 = open(s:pack(NOW))
    assert.equal(u32(0xda9b0d0d), m1.body:sub(1, 4))
    s:send(req_body(2))
    local m2 = open(s:pack(NOW))
    assert.equal(req_body(2), m2.body)
    s:new_connection()
    local _, inner = open(s:pack(NOW))
    assert.equal(2, #inner)
    assert.equal(m1.msg_id, inner[1].msg_id)
    assert.equal(m1.body, inner[1].body, "the first on the connection is wrapped")
    assert.equal(m2.msg_id, inner[2].msg_id)
    assert.equal(req_body(2), inner[2].body)
    -- on the next connection the first one out is wrapped, whichever it is
    s:new_connection()
    local _, again = open(s:pack(NOW))
    assert.equal(u32(0xda9b0d0d), again[1].body:sub(1, 4))
  end)

  it("splits a container the server refuses (bad_msg 64) and re-sends its messages", function()
    local s = new_session()
    for i = 1, 40 do s:send(req_body(i)) end
    local m1, inner1 = open(s:pack(NOW))
    assert.equal(40, #inner1)
    local srv = server(s)
    s:receive(srv:packet(u32(0xa7eff811) .. i64(m1.msg_id) .. i32(m1.seqno) .. i32(64), { seqno = 0 }), NOW)
    local _, a = open(assert(s:pack(NOW)))
    local _, b = open(assert(s:pack(NOW)))
    assert.is_nil(s:pack(NOW))
    assert.equal(20, #a)
    assert.equal(20, #b)
    assert.equal(req_body(1), a[1].body)
    assert.equal(req_body(40), b[20].body)
    assert.is_true(a[1].msg_id > m1.msg_id, "new msg_ids")
    -- a single request refused as an invalid container is an error for it
    local id = s:send(req_body(99))
    local m2 = open(s:pack(NOW))
    local ev = s:receive(srv:packet(u32(0xa7eff811) .. i64(m2.msg_id) .. i32(m2.seqno) .. i32(64), { seqno = 0 }), NOW)
    assert.same({ { kind = "error", id = id, code = -6, message = "BAD_MSG_64" } }, ev)
  end)

  it("survives well-encrypted random service messages (nothing trusted, nothing crashes)", function()
    local s = new_session()
    local id = s:send(req_body(1))
    local m1 = open(s:pack(NOW))
    local srv = server(s)
    math.randomseed(42)
    local ctors = { 0xf35c6d01, 0x2144ca19, 0x3072cfa1, 0x73f1f8dc, 0x9ec20908, 0x62d6b459, 0xedab447b,
      0xa7eff811, 0x347773c5, 0xae500895, 0x276d3ec6, 0x809db6df, 0x7d861a08, 0xda69fb52, 0x1cb5c415 }
    local function rnd_words(n)
      local t = {}
      for i = 1, n do
        local r = math.random(0, 9)
        t[i] = r < 3 and u32(ctors[math.random(#ctors)]) or r < 5 and u32(math.random(0, 40))
          or string.pack("<I4", math.random(0, 0xffffffff))
      end
      return table.concat(t)
    end
    for _ = 1, 3000 do
      local body = u32(ctors[math.random(#ctors)]) .. rnd_words(math.random(0, 24))
      local ev = s:receive(srv:packet(body, { mod4 = math.random(0, 1) * 2 + 1, seqno = math.random(0, 3) }), NOW)
      for _, e in ipairs(ev) do
        assert.is_true(e.kind == "update" or e.id == id, "no answer for a request never made")
      end
      s:pack(NOW, true)
    end
    -- the session still works (the request may have been failed or re-sent meanwhile)
    assert.is_true(s:state().dropped >= 0)
    local id2 = s:send(req_body(2))
    local _, inner = open(s:pack(NOW))
    local ev = s:receive(srv:packet(rpc_result(find_body(inner, req_body(2)).msg_id, answer(2))), NOW)
    assert.same({ { kind = "result", id = id2, bytes = answer(2) } }, ev)
    assert.is_not_nil(m1)
  end)

  it("raises on misuse and after close", function()
    local s = new_session()
    assert.has_error(function() s:send("abc") end)
    assert.has_error(function() core.session.new { auth_key = "short" } end)
    assert.matches("mtproto.session", tostring(s))
    s:close()
    s:close()
    assert.has_error(function() s:send(req_body(1)) end, "attempt to use a closed session")
    assert.equal("mtproto.session (closed)", tostring(s))
  end)
end)
