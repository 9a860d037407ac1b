-- The test DC and the parity of msg_seqno. A content message (one that needs an answer) has an
-- odd seqno, a msgs_ack an even one. The test DC once answered the two mistakes with each
-- other's bad_msg_notification code (34 is "an even seqno expected", 35 "an odd one"), and it
-- refused what Telegram accepts: mtcute puts msgs_ack with an odd seqno in its containers, got
-- code 35 back, reset its session and sent again, forever. By default the test DC now accepts
-- such acks, as Telegram does; the strict_seqno fault refuses them with 34.
--
-- The messages are made by hand (core.transport.msg_encrypt over an auth key made by
-- core.conn) and written over one raw TCP connection, so each seqno is exactly the one chosen.
local helpers = require("helpers")
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local T = core.transport

-- A fresh session on an auth key of DC 1: what is needed to encrypt messages by hand.
local function raw_session(dc)
  local conn = helpers.conn(dc, 1, { transport = "intermediate" })
  assert(helpers.call(conn, { _ = "help.getNearestDc" }))
  local st = conn:state()
  conn:close()
  return { key = st.auth_key, salt = st.salt, session_id = st.session_id ~ 0x5a5a, msg_id = os.time() << 32 }
end

local function next_msg_id(s)
  s.msg_id = s.msg_id + 4
  return s.msg_id
end

local function packet(s, msg_id, seqno, body)
  return T.msg_encrypt(s.key, 0, { salt = s.salt, session_id = s.session_id, msg_id = msg_id, seqno = seqno,
    body = body })
end

-- Sends the packets over intermediate framing, then a packet of an unknown auth key so that the
-- server answers -404 and closes; returns every object the server sent before, containers
-- opened, in order.
local function exchange(dc, s, packets)
  local frames = { "\xee\xee\xee\xee" }
  local bogus = "\x01\0\0\0\0\0\0\0" .. string.rep("\x55", 88)
  for _, p in ipairs(packets) do frames[#frames + 1] = string.pack("<s4", p) end
  frames[#frames + 1] = string.pack("<s4", bogus)
  local out = assert(helpers.raw_exchange(dc.ports[1], table.concat(frames)), "the server kept the connection open")
  local objs, pos = {}, 1
  while pos <= #out do
    local payload
    payload, pos = string.unpack("<s4", out, pos)
    if #payload == 4 then
      objs[#objs + 1] = { _ = "transport error", code = string.unpack("<i4", payload) }
    else
      local m = assert(T.msg_decrypt(s.key, 8, payload))
      local obj = assert(tl.decode(m.body))
      if obj._ == "msg_container" then
        for _, it in ipairs(obj.messages) do objs[#objs + 1] = it.body end
      else
        objs[#objs + 1] = obj
      end
    end
  end
  return objs
end

-- The bad_msg_notifications ({msg_id, seqno, code}) and pong ids among `objs`.
local function outcome(objs)
  local bad, pongs = {}, {}
  for _, o in ipairs(objs) do
    if o._ == "bad_msg_notification" then bad[#bad + 1] = { o.bad_msg_id, o.bad_msg_seqno, o.error_code }
    elseif o._ == "pong" then pongs[#pongs + 1] = o.ping_id end
  end
  return bad, pongs
end

-- One session: an odd-seqno ack inside a container beside a ping (as mtcute sends them), an
-- odd-seqno ack alone, a ping with an even seqno, an even-seqno ack, a well-formed ping.
-- Returns the messages' ids and the server's bad_msg_notifications and pongs.
local function walk(dc)
  local s = raw_session(dc)
  local ack = tl.encode{ _ = "msgs_ack", msg_ids = { s.msg_id } }
  local ids = {}
  for i = 1, 6 do ids[i] = next_msg_id(s) end
  local box = T.container_pack{
    { msg_id = ids[1], seqno = 1, body = tl.encode{ _ = "ping", ping_id = 1 } },
    { msg_id = ids[2], seqno = 3, body = ack },
  }
  local objs = exchange(dc, s, {
    packet(s, next_msg_id(s), 4, box),
    packet(s, ids[3], 5, ack),
    packet(s, ids[4], 4, tl.encode{ _ = "ping", ping_id = 2 }),
    packet(s, ids[5], 6, ack),
    packet(s, ids[6], 5, tl.encode{ _ = "ping", ping_id = 3 }),
  })
  assert.same({ _ = "transport error", code = -404 }, objs[#objs])
  local bad, pongs = outcome(objs)
  return ids, bad, pongs
end

describe("mtproto-testdc and msg_seqno parity", function()
  it("accepts a msgs_ack with an odd seqno, in a container or alone, as Telegram does", function()
    local dc <close> = helpers.start_testdc{ dcs = 1 }
    local ids, bad, pongs = walk(dc)
    assert.same({ 1, 3 }, pongs)
    -- only the even-seqno ping is refused: 35, an odd seqno was expected
    assert.same({ { ids[4], 4, 35 } }, bad)
  end)

  it("strict_seqno: refuses an odd-seqno msgs_ack with 34 (an even seqno expected)", function()
    local dc <close> = helpers.start_testdc{ dcs = 1, faults = { strict_seqno = true } }
    local ids, bad, pongs = walk(dc)
    assert.same({ 1, 3 }, pongs)
    table.sort(bad, function(a, b) return a[1] < b[1] end)
    assert.same({ { ids[2], 3, 34 }, { ids[3], 5, 34 }, { ids[4], 4, 35 } }, bad)
  end)

  it("strict_seqno is a fault of the command line too", function()
    local p = io.popen(helpers.TESTDC .. " --help")
    local usage = p:read("a")
    p:close()
    assert.matches("strict_seqno", usage)
    assert.has_error(function() helpers.start_testdc{ faults = { strict_seqno = 1 } } end,
      "bad argument #1 to 'start' (faults.strict_seqno: expected a boolean)")
  end)
end)
