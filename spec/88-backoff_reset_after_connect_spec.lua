-- The reconnect pause grows with the failed attempts of an outage (0.1 s doubling to 3 s) and
-- must start over once the DC is reachable again. It used to survive a successful TCP
-- connect: after an outage the DC came back without the client's key (-404), and the
-- reconnect that makes the new key waited the outage's 3 s, so a call with timeout = 2
-- failed although the DC was back. core.link with a fake clock.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local T = core.transport

local PING = tl.encode{ _ = "ping", ping_id = 7 }
local KEY = string.rep("\7", 256)

local function new_link()
  return core.link.new{ dc_id = 2, transport = "intermediate", auth_key = KEY, timeout = 30,
    connect_timeout = 5, init = { api_id = 1 } }
end

-- A call sent on a first connection, then an outage of `fails` refused connects (each after
-- its pause). Returns the link, the call and the time the outage ends.
local function after_outage(fails)
  local link = new_link()
  local id = link:send(PING, 0)
  link:connected(0)
  assert(#link:output(0) > 0)
  link:lost(0, "closed")                                  -- reconnects at once
  local now, longest = 0, 0
  for _ = 1, fails do
    assert.equal("connecting", link:state())
    link:lost(now, "io", "refused")
    local at = link:deadline()
    longest = math.max(longest, at - now)
    now = at
    link:tick(now)
  end
  assert.near(3, longest, 1e-9)                          -- the outage reached the longest pause
  return link, id, now
end

describe("the reconnect pause after an outage", function()
  it("starts over after a successful connect: a -404 then re-keys at once, not 3 s later", function()
    local link <close>, id, now = after_outage(8)
    assert.equal("connecting", link:state())
    link:connected(now)                                   -- the DC is back (without our key)
    assert.equal("ready", link:state())
    local tr = T.server()
    assert(tr:feed(link:output(now)))                     -- the call, re-sent
    link:feed(tr:encode(string.pack("<i4", -404)), now)
    assert.matches("TRANSPORT_ERROR_404", (link:error()))
    local pause = (link:deadline() or math.huge) - now
    assert(pause <= 0.1 + 1e-9, ("the reconnect after the -404 waits %.2f s"):format(pause))
    assert.is_false(link:take(id))                        -- still waiting, to be re-sent
  end)

  it("starts over after a successful connect: a dropped connection pauses the shortest time", function()
    local link <close>, _, now = after_outage(8)
    link:connected(now)
    link:lost(now + 1, "closed")
    local pause = (link:deadline() or math.huge) - (now + 1)
    assert(pause <= 0.1 + 1e-9, ("the reconnect waits %.2f s"):format(pause))
  end)
end)
