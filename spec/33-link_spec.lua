-- core.link: the sans-IO connection object, driven with plain bytes and a fake clock. The
-- server side is built in-process from the same core's server objects (handshake server,
-- server transport, message encryption): no socket, no real time.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local helpers = require("helpers")
local A, T = core.auth, core.transport

local PRIV, PUB = A.rsa_generate()
local PING = tl.encode{ _ = "ping", ping_id = 7 }
local ID_CONTAINER, ID_ACK = 0x73f1f8dc, 0x62d6b459
local ID_INVOKE_WITH_LAYER = 0xda9b0d0d
local TRUE = tl.encode{ _ = "boolTrue" }

-- A fake DC for one TCP connection at a time: handshake, then answers every request with
-- rpc_result(boolTrue) unless told to stay silent; records the msg_ids of requests seen.
local function server(opts)
  opts = opts or {}
  local srv = { seen = {}, acks = 0, key = opts.key, silent = false, next_id = 0 }
  function srv:accept()
    self.tr = T.server()
    self.auth = not self.key and A.server{ key_pem = PRIV } or nil
  end
  -- answers have msg_id % 4 == 1, the server's own messages (updates) 3
  local function out_msg(self, now, body, mod4)
    self.next_id = T.msgid_next(self.next_id, 0, math.floor(now * 1e9), mod4 or 1)
    return self.tr:encode(assert(T.msg_encrypt(self.key, 8, { salt = self.salt, session_id = self.session_id,
      msg_id = self.next_id, seqno = 1, body = body })))
  end
  srv.out_msg = out_msg
  local function requests(self, msg_id, body, list)
    local ctor = string.unpack("<I4", body)
    if ctor == ID_CONTAINER then
      for _, m in ipairs(T.container_unpack(body)) do requests(self, m.msg_id, m.body, list) end
    elseif ctor == ID_ACK then
      self.acks = self.acks + 1
    else
      self.seen[#self.seen + 1] = msg_id
      self.first_ctor = self.first_ctor or ctor
      list[#list + 1] = msg_id
    end
  end
  -- Bytes from the client -> bytes to it.
  function srv:handle(bytes, now)
    assert(self.tr:feed(bytes))
    local out = {}
    while true do
      local frame = self.tr:next()
      if not frame then break end
      if self.auth then
        local _, body = assert(A.plain_unwrap(frame))
        local st, answer = assert(self.auth:step(body, math.floor(now)))
        self.next_id = T.msgid_next(self.next_id, 0, math.floor(now * 1e9), 1)
        out[#out + 1] = self.tr:encode(A.plain_wrap(self.next_id, answer))
        if st == "done" then
          local r = self.auth:result()
          self.key, self.salt, self.auth = r.auth_key, r.server_salt, nil
          self.keys_made = (self.keys_made or 0) + 1
        end
      else
        local m = assert(T.msg_decrypt(self.key, 0, frame))
        self.session_id, self.salt = m.session_id, m.salt
        local list = {}
        requests(self, m.msg_id, m.body, list)
        if not self.silent then
          for _, id in ipairs(list) do
            out[#out + 1] = out_msg(self, now, string.pack("<I4i8", 0xf35c6d01, id) .. TRUE)
          end
        end
      end
    end
    return table.concat(out)
  end
  return srv
end

local function new_link(extra)
  local o = { dc_id = 2, transport = "intermediate", rsa_keys = { PUB }, timeout = 10, connect_timeout = 5,
    init = { api_id = 1 } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return core.link.new(o)
end

-- One round between a link and its server: its bytes to the server and the answer back, or
-- one piece of handshake math (run one per tick, due at once: spec/36). False when neither
-- side has anything to say.
local function round(link, srv, now)
  local out = link:output(now)
  if out ~= "" then
    local back = srv:handle(out, now)
    if back ~= "" then link:feed(back, now) end
  elseif link:state() == "open" and link:deadline() and link:deadline() <= now then
    link:tick(now)
  else
    return false
  end
  return true
end

-- Rounds until quiet.
local function exchange(link, srv, now)
  for _ = 1, 40 do
    if not round(link, srv, now) then return end
  end
  error("no quiet after 40 rounds")
end

local function types(events)
  local t = {}
  for i, e in ipairs(events) do t[i] = e.type end
  return t
end

describe("core.link (sans-IO, fake clock)", function()
  it("connects when a call is queued, makes a key, answers the call and keeps idle down", function()
    local link <close> = new_link()
    assert.equal("down", link:state())
    assert.is_nil(link:deadline())
    local id = link:send(PING, 100)
    assert.equal("connecting", link:state())
    assert.equal(1, link:epoch())
    assert.equal(105, link:deadline())                    -- the TCP connect's deadline
    local srv = server(); srv:accept()
    link:connected(100)
    assert.equal("open", link:state())                   -- handshake running
    exchange(link, srv, 100.01)
    assert.equal("ready", link:state())
    assert.equal(TRUE, link:take(id))
    assert.same({ "key", "connected", "answer" }, types(link:events()))
    assert.equal(ID_INVOKE_WITH_LAYER, srv.first_ctor)   -- the first call carries initConnection
    assert.equal(1, link:info().connections)
    assert.is_truthy(link:info().auth_key)
  end)

  it("bounds a call by its deadline: TIMEOUT, and it is never sent again", function()
    local link <close> = new_link()
    local srv = server(); srv:accept()
    local id = link:send(PING, 0, 3)
    link:connected(0)
    srv.silent = true
    exchange(link, srv, 0)
    assert.equal(1, #srv.seen)
    assert.is_false(link:take(id))
    link:tick(2.9)
    assert.is_false(link:take(id))
    assert.equal(3, link:deadline())
    link:tick(3)
    local r, err = link:take(id)
    assert.is_nil(r)
    assert.same({ -16, "TIMEOUT" }, { err.code, err.message })
    -- a new connection re-sends what still waits: nothing
    link:disconnect(3)
    assert.equal("down", link:state())
    link:send(PING, 3)
    srv:accept(); link:connected(3)
    exchange(link, srv, 3)
    assert.equal(2, #srv.seen)
    assert.are_not.equal(srv.seen[1], srv.seen[2])
  end)

  it("re-sends a call lost with its connection, under the same msg_id, and takes the answer", function()
    local link <close> = new_link()
    local srv = server(); srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    srv.silent = true
    exchange(link, srv, 0)
    link:lost(0.5, "closed")
    assert.equal("connecting", link:state())             -- at once: the connection had worked
    assert.equal(2, link:epoch())
    srv.silent = false; srv:accept()
    link:connected(0.5)
    exchange(link, srv, 0.5)
    assert.equal(TRUE, link:take(id))
    assert.same({ srv.seen[1], srv.seen[1] }, srv.seen)
    assert.equal(1, srv.keys_made)                       -- same key on the second connection
  end)

  it("backs off between failed connects (0.1, 0.2, 0.4 ... 3 s) until the call's deadline", function()
    local link <close> = new_link{ timeout = 30, auth_key = string.rep("\7", 256) }
    local id = link:send(PING, 0)
    link:connected(0)
    assert.is_true(#link:output(0) > 0)                  -- sent: it waits for the next connection
    link:lost(0, "closed")
    assert.equal("connecting", link:state())             -- at once: the connection had worked
    local now, pauses = 0, {}
    for _ = 1, 8 do
      assert.equal("connecting", link:state())
      link:lost(now, "io", "refused")
      local at = link:deadline()
      if link:state() == "connecting" then
        pauses[#pauses + 1] = 0
      else
        pauses[#pauses + 1] = at - now
        link:tick(at - 0.001)
        assert.equal("down", link:state())               -- still pausing
        now = at
        link:tick(now)
      end
    end
    for i, want in ipairs { 0.1, 0.2, 0.4, 0.8, 1.6, 3, 3, 3 } do
      assert.near(want, pauses[i], 1e-6, "pause " .. i)
    end
    link:lost(now, "io", "refused")
    link:tick(30)
    local r, err = link:take(id)
    assert.is_nil(r)
    assert.equal("NETWORK_ERROR", err.message)           -- the reason it could not be re-sent
    assert.equal("down", link:state())                   -- nothing waits any more
    assert.is_nil(link:deadline())
  end)

  it("bounds the TCP connect by connect_timeout and the handshake by timeout", function()
    local link <close> = new_link{ connect_timeout = 2, timeout = 4 }
    link:connect(0, 60)
    link:tick(2)
    local ev = link:events()
    assert.same({ "lost" }, types(ev))
    assert.equal(-16, ev[1].code)
    assert.equal("connecting", link:state())             -- first retry at once
    link:connected(2)
    assert.equal(6, link:deadline())                     -- a silent server: the handshake's deadline
    link:output(2)
    link:tick(6)
    local msg, detail = link:error()
    assert.equal("TIMEOUT", msg)
    assert.matches("handshake", detail)
  end)

  it("makes a new key after a -404 and re-sends the call under it", function()
    local link <close> = new_link{ auth_key = string.rep("\7", 256) }
    local srv = server{ key = string.rep("\8", 256) }; srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    assert.equal("ready", link:state())                  -- a saved key: no handshake
    srv.tr:feed(link:output(0))
    assert.same({ "connected" }, types(link:events()))
    link:feed(srv.tr:encode(string.pack("<i4", -404)), 0)
    assert.matches("TRANSPORT_ERROR_404", (link:error()))
    assert.equal("connecting", link:state())
    srv.key = nil; srv:accept()
    link:connected(0.1)
    exchange(link, srv, 0.1)
    assert.equal(TRUE, link:take(id))
    assert.are_not.equal(string.rep("\7", 256), link:info().auth_key)
    assert.same({ "lost", "key", "connected", "answer" }, types(link:events()))
  end)

  it("fails the calls waiting on a fatal transport error (-429) instead of retrying", function()
    local link <close> = new_link{ auth_key = string.rep("\7", 256) }
    local srv = server{ key = string.rep("\7", 256) }; srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    srv.tr:feed(link:output(0))
    link:feed(srv.tr:encode(string.pack("<i4", -429)), 0)
    local r, err = link:take(id)
    assert.is_nil(r)
    assert.equal("TRANSPORT_ERROR_429", err.message)
    assert.equal("down", link:state())
  end)

  it("acks answers after 0.2 s of quiet, and passes updates on as bytes", function()
    local link <close> = new_link()
    local srv = server(); srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    exchange(link, srv, 0)
    assert.equal(TRUE, link:take(id))
    assert.equal(0, srv.acks)
    assert.equal("", link:output(0.1))
    assert.near(0.2, link:deadline(), 1e-9)
    link:tick(0.2)
    srv:handle(link:output(0.2), 0.2)
    assert.equal(1, srv.acks)
    link:events()
    local upd = tl.encode{ _ = "updatesTooLong" }
    link:feed(srv:out_msg(1, upd, 3), 1)
    local ev = link:events()
    assert.same({ "update" }, types(ev))
    assert.equal(upd, ev[1].bytes)
  end)

  it("gives up a connect attempt nothing waits for any more", function()
    local link <close> = new_link()
    link:send(PING, 0, 1)
    link:tick(1)
    assert.equal("down", link:state())
    assert.is_nil(link:deadline())
    -- an explicit connect() wants the connection without calls, until its deadline
    link:connect(1, 20)
    assert.equal("connecting", link:state())
    local srv = server(); srv:accept()
    link:connected(1)
    exchange(link, srv, 1)
    assert.equal("ready", link:state())
  end)
end)

-- What the links of one Lua state share (src/lshared.c): the OpenSSL contexts of the
-- per-message work, the pool of padding bytes and the parsed RSA keys of each set of PEMs.
-- Each message has its own AES key, so a link whose packets went through a context another
-- link used (or left, by closing) still encrypts and decrypts right; the servers here check
-- every packet (msg_decrypt) and every answer is taken.
describe("core.link: state shared by the links of one Lua state", function()
  -- n links and their servers, handshakes and a first call each, one round of each at a time
  local function interleaved(links, srvs, now)
    local ids = {}
    for i, link in ipairs(links) do
      ids[i] = link:send(PING, now)
      link:connected(now)
    end
    for _ = 1, 60 do
      local busy = false
      for i, link in ipairs(links) do busy = round(link, srvs[i], now) or busy end
      if not busy then break end
    end
    for i, link in ipairs(links) do assert.equal(TRUE, link:take(ids[i]), "link " .. i) end
  end

  it("interleaves handshakes and calls; a link keeps working after others close or are collected", function()
    local links, srvs = {}, {}
    for i = 1, 3 do
      links[i] = new_link()
      srvs[i] = server(); srvs[i]:accept()
    end
    interleaved(links, srvs, 0)
    -- calls interleaved over the three keys, then closes in the middle of the order
    interleaved(links, srvs, 1)
    links[1]:close()
    interleaved({ links[2], links[3] }, { srvs[2], srvs[3] }, 2)
    links[3] = nil
    collectgarbage(); collectgarbage()
    local fresh <close> = new_link()
    local srv = server(); srv:accept()
    interleaved({ links[2], fresh }, { srvs[2], srv }, 3)
    links[2]:close()
    interleaved({ fresh }, { srv }, 4)
  end)

  it("parses each set of keys once per state: a link gets its own set's keys", function()
    local priv2, pub2 = A.rsa_generate()
    local a <close> = new_link()
    local b <close> = new_link{ rsa_keys = { pub2 } }
    local sa, sb = server(), server()
    sa:accept()
    sb.tr = T.server(); sb.auth = A.server{ key_pem = priv2 }
    interleaved({ a, b }, { sa, sb }, 0)
    -- a set the server's key is not in: the handshake fails (no key in common)
    local c <close> = new_link{ rsa_keys = { pub2 } }
    local sc = server(); sc:accept()
    c:send(PING, 0, 1)
    c:connected(0)
    exchange(c, sc, 0)
    assert.are_not.equal("ready", c:state())
    -- a set of two keys (the server's one second), cached apart from each key alone
    local d <close> = new_link{ rsa_keys = { pub2, PUB } }
    local sd = server(); sd:accept()
    interleaved({ d }, { sd }, 1)
    assert.has_error(function() new_link{ rsa_keys = { "junk" } } end,
      "bad argument #1 to 'new' (bad field 'rsa_keys' (not an RSA public key PEM))")
    -- the built-in keys are a set of their own: an empty PEM is not them
    local builtin <close> = core.link.new{ dc_id = 2, transport = "intermediate" }
    assert.equal("down", builtin:state())
    assert.has_error(function() new_link{ rsa_keys = { "" } } end,
      "bad argument #1 to 'new' (bad field 'rsa_keys' (not an RSA public key PEM))")
  end)

  it("keeps a link's keys when the cache of sets starts over (more than 16 sets)", function()
    local first <close> = new_link{ rsa_keys = { PUB .. "\n" } }
    -- 19 more sets (the same key in other PEM texts), their links left to the collector
    for i = 2, 20 do new_link{ rsa_keys = { PUB .. ("\n"):rep(i) } } end
    collectgarbage(); collectgarbage()
    local srv = server(); srv:accept()
    interleaved({ first }, { srv }, 0)
  end)

  it("closes a state holding open links and their shared state, in the order lua_close takes", function()
    local script = ([[
      local core = require("mtproto.core")
      local tl = require("mtproto.tl")
      local ping, links = tl.encode{ _ = "ping", ping_id = 1 }, {}
      for i = 1, 3 do
        links[i] = core.link.new{ dc_id = 2, transport = "intermediate", rsa_keys = { %q },
          auth_key = string.rep(string.char(i), 256) }
        links[i]:send(ping, 0)
        links[i]:connected(0)
        assert(#links[i]:output(0) > 0)          -- packed and encrypted over the shared state
      end
      links[2]:close()
      os.exit(0, true)                             -- lua_close: links 1 and 3 still open
    ]]):format(PUB)
    assert.same({ "", 0 }, { helpers.run_lua(script) })
  end)
end)
