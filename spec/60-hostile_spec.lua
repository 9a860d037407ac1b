-- Hostile or broken servers. Two halves:
--  1. mtproto.client against the test DC's hostile-server faults over real loopback TCP: each
--     fault gives a clear error or is dropped, the client keeps working for the next call, and
--     several calls in flight (client:send, invoke_all) all get their own answer or a clear error.
--  2. Hand-made byte streams for what the test DC cannot send (another auth_key_id, a message
--     length larger than its packet, frames cut short, 16 MiB+ length claims, ...), fed through
--     the client's own transport and session objects (sans-IO: core.transport + core.session).
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local helpers = require("helpers")
local T, C = core.transport, core.crypto

-- ---------------------------------------------------------------------------------------------
-- 1. The client against the test DC's faults
-- ---------------------------------------------------------------------------------------------

-- Three pings, an rpc_error and a getNearestDc in flight at once; then one more call and an
-- invoke_all. Returns the outcomes as strings, in order.
local function workload(client, opts, first_opts)
  local list = {
    { _ = "ping", ping_id = 101 }, { _ = "help.getNearestDc" }, { _ = "ping", ping_id = 102 },
    { _ = "auth.sendCode", phone_number = "12", api_id = helpers.API_ID, api_hash = helpers.API_HASH,
      settings = {} },
    { _ = "ping", ping_id = 103 },
  }
  local function show(r, e)
    if r == nil then return ("%d %s"):format(e.code, e.message) end
    if r._ == "pong" then return "pong " .. r.ping_id end
    return r._
  end
  local got = {}
  local pending = {}
  for i, obj in ipairs(list) do pending[i] = client:send(obj, i == 1 and first_opts or opts) end
  for i = 1, #pending do got[#got + 1] = show(pending[i]:wait()) end
  got[#got + 1] = show(client:invoke({ _ = "ping", ping_id = 200 }, opts))
  for _, x in ipairs(client:invoke_all{ { _ = "ping", ping_id = 301 }, { _ = "help.getNearestDc" },
      { _ = "ping", ping_id = 302 } }, opts) do
    got[#got + 1] = x._ and show(x) or show(nil, x)
  end
  return got
end

local ALL_ANSWERED = {
  "pong 101", "nearestDc", "pong 102", "400 PHONE_NUMBER_INVALID", "pong 103",
  "pong 200",
  "pong 301", "nearestDc", "pong 302",
}

describe("mtproto.client against hostile servers (test DC faults, loopback TCP)", function()
  local log_file
  after_each(function() if log_file then os.remove(log_file) end end)

  -- Runs the workload against a one-DC test DC with `faults`; returns the outcomes, the server
  -- log, the connection's state and the client's log lines.
  local function run(faults, o)
    o = o or {}
    log_file = os.tmpname()
    local dc <close> = helpers.start_testdc{ dcs = 1, faults = faults, verbose = 1, log = log_file }
    local lines = {}
    -- pfs off: the once-per-session faults would hit the bind instead of the workload
    local client <close> = helpers.client(dc, { dc = 1, transport = o.transport or "padded",
      timeout = 10, log_level = "debug", pfs = false,
      logger = function(level, msg) lines[#lines + 1] = level .. " " .. msg end })
    assert(client:connection(1))                     -- the handshake, under the client's timeout
    local got = workload(client, nil, o.first_timeout and { timeout = o.first_timeout })
    local st = client:connection(1):state()
    return got, helpers.slurp(log_file), st, table.concat(lines, "\n")
  end

  it("replayed server messages (every answer packet again, byte for byte) are dropped", function()
    local got, log, st, clog = run{ replay = true }
    assert.same(ALL_ANSWERED, got)                   -- each answered exactly once, in its place
    local _, n = log:gsub("out replayed packet", "")
    assert.is_true(n >= 2)                           -- one per answer packet after the first
    assert.is_true(st.dropped >= n, "dropped " .. st.dropped .. " of " .. n .. " replays")
    assert.matches("seen before", clog)              -- the client's log says why
    assert.equal(1, st.connections)
  end)

  it("packets with a wrong msg_key (right auth_key_id) are dropped", function()
    local got, log, st, clog = run{ garbage = true }
    assert.same(ALL_ANSWERED, got)
    local _, n = log:gsub("out garbage packet", "")
    assert.is_true(n >= 3)
    assert.is_true(st.dropped >= n)
    assert.matches("msg_key", clog)
    assert.equal(1, st.connections)
  end)

  it("a container nested in a container is not taken", function()
    local got, log = run{ nested_container = true }
    -- the nested one carries rpc_error 500 NESTED_CONTAINER_ACCEPTED for the request: had it
    -- been taken, a call would have failed with it
    assert.same(ALL_ANSWERED, got)
    assert.matches("out nested container", log)
  end)

  it("a gzip bomb (gzip_packed inflating to 17 MiB) fails its call clearly, the rest is answered", function()
    local got, log, st = run{ gzip_bomb = true }
    assert.matches("out gzip bomb %(%d+ bytes inflating to 17825792%)", log)
    local want = { table.unpack(ALL_ANSWERED) }
    want[1] = "-12 PROTOCOL_ERROR"                   -- MT_ERR_GZIP: the cap is 16 MiB
    assert.same(want, got)
    assert.equal(1, st.connections)
  end)

  for _, tr in ipairs { "abridged", "intermediate", "padded", "full" } do
    it("a frame claiming 32 MiB (then close) costs a reconnect, nothing else (" .. tr .. ")", function()
      local got, log, st, clog = run({ huge_frame = true }, { transport = tr })
      assert.matches("out frame header claiming 33554432 bytes, then close", log)
      assert.same(ALL_ANSWERED, got)
      assert.equal(2, st.connections)
      assert.matches("lost: malformed transport frame", clog)
    end)
  end

  for _, tr in ipairs { "padded", "obfuscated" } do
    it("a server that closes mid-frame: the calls are re-sent and answered once (" .. tr .. ")", function()
      local got, log, st = run({ cut_after = 1 }, { transport = tr })
      assert.matches("cut_after=1: %d+ of %d+ answer bytes, then close", log)
      assert.same(ALL_ANSWERED, got)
      assert.equal(2, st.connections)
    end)
  end

  it("a server that drops the connection with requests unanswered: re-sent, answered once", function()
    local got, log, st = run{ drop_after = 1 }
    assert.matches("drop_after=1: closing", log)
    assert.same(ALL_ANSWERED, got)
    assert.equal(2, st.connections)
  end)

  it("a server that stops answering: TIMEOUT for the call waited on, the others and later calls answered", function()
    local got, log, st, clog = run({ stall_after = 1 }, { first_timeout = 1 })
    assert.matches("stall_after=1: no more answers on this connection", log)
    -- the first call (timeout = 1) times out and is given up; the connection is dropped, the
    -- others in flight (the client's timeout, 10 s) are re-sent on a new connection in the
    -- same session and answered
    local want = { table.unpack(ALL_ANSWERED) }
    want[1] = "-16 TIMEOUT"
    assert.same(want, got)
    assert.equal(2, st.connections)
    assert.equal(0, st.pending)                      -- the timed-out call was released
    assert.matches("got no answer in time: reconnecting", clog)
  end)
end)

-- ---------------------------------------------------------------------------------------------
-- 2. Hand-made hostile byte streams through the client's transport and session (sans-IO)
-- ---------------------------------------------------------------------------------------------

local KEY = (function()
  local out, h = {}, "lua-mtproto hostile spec"
  for i = 1, 8 do h = C.sha256(h .. i); out[i] = h end
  return table.concat(out)
end)()
local OTHER_KEY = string.rep("\7", 256)
local SALT = 0x0123456789abcdef
local NOW = 1795600000.5

local function u32(n) return string.pack("<I4", n) end
local function i32(n) return string.pack("<i4", n) end
local function i64(n) return string.pack("<i8", n) end
local function tlbytes(s)
  local head = #s < 254 and string.char(#s) or ("\254" .. string.pack("<I3", #s))
  return head .. s .. string.rep("\0", (4 - (#head + #s) % 4) % 4)
end
local function req_body(n) return u32(0xc4f9186b) .. i32(n) end
local function answer(n) return u32(0x232566ac) .. i32(n) .. i64(n * 1000) end
local function rpc_result(req, obj) return u32(0xf35c6d01) .. i64(req) .. obj end

-- Seals any plaintext (even a malformed one) the documented way, x = 8 (server to client).
local function seal(plain, key)
  key = key or KEY
  local mk = C.sha256(key:sub(97, 128) .. plain):sub(9, 24)
  local a = C.sha256(mk .. key:sub(9, 44))
  local b = C.sha256(key:sub(49, 84) .. mk)
  local k, iv = a:sub(1, 8) .. b:sub(9, 24) .. a:sub(25, 32), b:sub(1, 8) .. a:sub(9, 24) .. b:sub(25, 32)
  return C.sha1(key):sub(13, 20) .. mk .. assert(C.openssl_ige_encrypt(k, iv, plain))
end

-- The server side of one session: msg_ids 1 mod 4, packets under KEY.
local function server(sess)
  local srv = { last = 0 }
  function srv:msg_id() self.last = T.msgid_next(self.last, 0, math.floor(NOW * 1e9), 1); return self.last end
  function srv:plain(body, claimed)
    return string.pack("<i8i8i8i4I4", SALT, sess:state().session_id, self:msg_id(), 1, claimed or #body)
      .. body .. string.rep("\x5a", 12 + (16 - (32 + #body + 12) % 16) % 16)
  end
  function srv:packet(body, key) return seal(self:plain(body), key) end
  function srv:container(items)
    local list = {}
    for _, b in ipairs(items) do list[#list + 1] = { msg_id = self:msg_id(), seqno = 1, body = b } end
    return assert(T.container_pack(list))
  end
  return srv
end

-- What the server writes for payloads, in the framing of `kind` (full counts frames from seq0).
local function frames(kind, payloads, seq0)
  local out = {}
  for i, p in ipairs(payloads) do
    if kind == "abridged" then
      local w = #p // 4
      out[i] = (w < 0x7f and string.char(w) or ("\x7f" .. string.pack("<I3", w))) .. p
    elseif kind == "intermediate" then out[i] = string.pack("<I4", #p) .. p
    elseif kind == "padded" then out[i] = string.pack("<I4", #p + 3) .. p .. "pad"
    else
      local head = string.pack("<I4I4", #p + 12, (seq0 or 0) + i - 1) .. p
      out[i] = head .. string.pack("<I4", tl.crc32(head))
    end
  end
  return table.concat(out)
end

-- A client session with two requests sent; returns it, their ids and msg_ids, and a server.
local function session_with_requests(logs)
  local s = core.session.new{ auth_key = KEY, salt = SALT,
    log = function(_, msg) logs[#logs + 1] = msg end }
  local id1, id2 = s:send(req_body(1)), s:send(req_body(2))
  local m = assert(T.msg_decrypt(KEY, 0, assert(s:pack(NOW))))
  local inner = assert(T.container_unpack(m.body))
  return s, id1, id2, inner[1].msg_id, inner[2].msg_id, server(s)
end

-- Feeds every frame the transport yields to the session; returns the results by request id,
-- the errors by request id, and the reasons of the dropped packets in order.
local function pump(t, s)
  local results, failures, drops = {}, {}, {}
  while true do
    local f, err = t:next()
    if err then return results, failures, drops, err end
    if not f then return results, failures, drops end
    local ev, why = s:receive(f, NOW)
    if why then drops[#drops + 1] = why.detail end
    for _, e in ipairs(ev) do
      if e.kind == "result" then results[e.id] = e.bytes
      elseif e.kind == "error" then failures[e.id] = e.code .. " " .. e.message end
    end
  end
end

describe("hand-made hostile byte streams (core.transport + core.session)", function()
  for _, kind in ipairs { "abridged", "intermediate", "padded", "full" } do
    it("drops every bad packet with its reason and still delivers both answers (" .. kind .. ")", function()
      local logs = {}
      local s, id1, id2, mid1, mid2, srv = session_with_requests(logs)
      local good1 = srv:packet(rpc_result(mid1, answer(1)))
      local bomb = tl.gzip(string.rep("\0", (16 << 20) + 4096))
      local payloads = {
        srv:packet(rpc_result(mid1, answer(66)), OTHER_KEY),         -- another auth_key_id
        (function()                                                 -- a flipped msg_key byte
          local p = srv:packet(rpc_result(mid1, answer(67)))
          return p:sub(1, 12) .. string.char(p:byte(13) ~ 0x80) .. p:sub(14)
        end)(),
        good1:sub(1, 20),                                           -- shorter than the header
        good1:sub(1, #good1 - 16),                                  -- cut inside the ciphertext
        seal(srv:plain(rpc_result(mid1, answer(68)), 4096)),        -- a length past the packet
        seal(srv:plain(rpc_result(mid1, answer(69)), 0xfffffff0)),  -- a 4 GiB length claim
        srv:packet(srv:container{                                   -- a container in a container
          srv:container{ rpc_result(mid2, answer(70)) } }),
        good1,                                                      -- the real answer to 1
        good1,                                                      -- replayed
        srv:packet(rpc_result(mid2, u32(0x3072cfa1) .. tlbytes(bomb))), -- gzip bomb for 2
      }
      local t = T.client(kind, { random = string.rep("\0", 64) })
      t:start()
      t:feed(frames(kind, payloads))
      local results, failures, drops, terr = pump(t, s)
      assert.is_nil(terr)
      assert.same({
        "wrong auth_key_id", "msg_key mismatch", "input is truncated", "msg_key mismatch",
        "length or count out of range", "length or count out of range", "replayed msg_id",
      }, drops)
      assert.equal(answer(1), results[id1])
      assert.equal("-12 PROTOCOL_ERROR", failures[id2])   -- the bomb fails its request clearly
      assert.is_nil(results[id2])                          -- and the nested answer 70 was not taken
      assert.equal(0, s:state().pending)
      assert.matches("bad gzip_packed", table.concat(logs, "\n"))
      s:close(); t:close()
    end)

    it("a 16 MiB+ length claim fails the connection; the request is re-sent and answered (" .. kind .. ")", function()
      local logs = {}
      local s, id1, id2, mid1, mid2, srv = session_with_requests(logs)
      local t = T.client(kind, { random = string.rep("\0", 64) })
      t:start()
      -- answer 1 arrives, then a header that claims more than 16 MiB (the frame cap; padded
      -- may add up to 15 bytes of padding to it)
      local claim = (16 << 20) + 16
      local head = kind == "abridged" and ("\x7f" .. string.pack("<I3", claim // 4))
        or kind == "full" and string.pack("<I4I4", claim + 12, 1) or string.pack("<I4", claim)
      t:feed(frames(kind, { srv:packet(rpc_result(mid1, answer(1))) }) .. head .. string.rep("\0", 64))
      local results, _, _, terr = pump(t, s)
      assert.equal(answer(1), results[id1])
      assert.same({ code = -14, message = "FRAME_INVALID", detail = "malformed transport frame" }, terr)
      assert.equal(-14, select(2, t:next()).code)          -- the transport stays failed
      t:close()
      -- a new connection: the unanswered request goes out again under the same msg_id
      s:new_connection()
      local m = assert(T.msg_decrypt(KEY, 0, assert(s:pack(NOW + 1))))
      local again                                          -- in a container with the ack of 1
      for _, it in ipairs(assert(T.container_unpack(m.body))) do
        if it.body == req_body(2) then again = it end
      end
      assert.equal(mid2, assert(again).msg_id)
      local t2 = T.client(kind, { random = string.rep("\0", 64) })
      t2:start()
      t2:feed(frames(kind, { srv:packet(rpc_result(mid2, answer(2))) }))
      results = pump(t2, s)
      assert.equal(answer(2), results[id2])
      assert.equal(0, s:state().pending)
      s:close(); t2:close()
    end)

    it("a frame cut short by a closing server gives nothing partial; the re-sent request is answered (" .. kind .. ")", function()
      local s, id1, _, mid1, mid2, srv = session_with_requests({})
      local t = T.client(kind, { random = string.rep("\0", 64) })
      t:start()
      local whole = frames(kind, { srv:packet(rpc_result(mid1, answer(1))) })
      for cut = 1, #whole - 1 do                           -- every cut point: need more, no error
        local tc = T.client(kind, { random = string.rep("\0", 64) })
        tc:start()
        tc:feed(whole:sub(1, cut))
        local f, err = tc:next()
        assert.is_nil(f, "cut at " .. cut)
        assert.is_nil(err, "cut at " .. cut)
        tc:close()
      end
      t:feed(whole:sub(1, #whole // 2))
      assert.is_nil(t:next())
      t:close()                                            -- the server closed: nothing delivered
      assert.equal(2, s:state().pending)
      s:new_connection()
      local m = assert(T.msg_decrypt(KEY, 0, assert(s:pack(NOW + 1))))
      local ids = {}
      for _, it in ipairs(assert(T.container_unpack(m.body))) do ids[#ids + 1] = it.msg_id end
      assert.same({ mid1, mid2 }, ids)                     -- both again, same msg_ids
      local t2 = T.client(kind, { random = string.rep("\0", 64) })
      t2:start()
      t2:feed(frames(kind, { srv:packet(rpc_result(mid1, answer(1))) }))
      assert.equal(answer(1), pump(t2, s)[id1])
      assert.equal(1, s:state().pending)
      s:close(); t2:close()
    end)
  end
end)
