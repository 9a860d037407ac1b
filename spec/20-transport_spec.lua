-- Transports: golden frames built by hand from the frame layouts
-- (core.telegram.org/mtproto/mtproto-transports), parsed on both sides.
local core = require("mtproto.core")
local T = core.transport

local E_TRANSPORT, E_FRAME = -13, -14

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- CRC32 (IEEE, reflected 0xEDB88320), written out here so the full transport
-- is checked against something other than zlib.
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = 0xEDB88320 ~ (c >> 1) else c = c >> 1 end
  end
  crc_table[i] = c
end
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = crc_table[(c ~ s:byte(i)) & 0xff] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end

-- Frame layouts, by hand.
local frame = {}
function frame.abridged(p)
  local w = #p // 4
  if w < 0x7f then return string.char(w) .. p end
  return "\x7f" .. string.pack("<I3", w) .. p
end
function frame.intermediate(p) return string.pack("<I4", #p) .. p end
function frame.padded(p, pad) return string.pack("<I4", #p + #pad) .. p .. pad end
function frame.full(p, seq)
  local head = string.pack("<I4I4", #p + 12, seq) .. p
  return head .. string.pack("<I4", crc32(head))
end

local TAGS = {
  abridged = "\xef", intermediate = "\xee\xee\xee\xee", padded = "\xdd\xdd\xdd\xdd", full = "",
}

-- A payload that looks like a small plain MTProto message (24+ bytes).
local P1 = string.pack("<i8i8I4", 0, 0x51e57ac42770964a, 8) .. "\x78\x97\x46\x60\x3e\x05\x49\x82"
local P2 = string.rep("\xab", 40)

-- The bytes a server sends for payloads (seq counts frames for full).
local function server_bytes(kind, payloads)
  local out = {}
  for i, p in ipairs(payloads) do
    if kind == "padded" then out[#out + 1] = frame.padded(p, "")
    elseif kind == "full" then out[#out + 1] = frame.full(p, i - 1)
    else out[#out + 1] = frame[kind](p) end
  end
  return table.concat(out)
end

local function new_client(kind)
  local t = T.client(kind, { random = string.rep("\0", 64) })
  t:start()
  return t
end

local function drain(t)
  local got = {}
  while true do
    local f, err = t:next()
    assert.is_nil(err)
    if not f then return got end
    got[#got + 1] = f
  end
end

describe("transport framing", function()
  it("crc32 helper matches the published check value", function()
    assert.equal(0xCBF43926, crc32("123456789"))
  end)

  for _, kind in ipairs { "abridged", "intermediate", "padded", "full" } do
    describe(kind, function()
      it("client start sends the tag and encode gives the golden frame", function()
        -- padded: 16 random bytes per frame, the first picks the length (7 % 16),
        -- the next ones are the padding
        local t = T.client(kind, { random = "\x07PADDINGunused..\x10" .. string.rep("z", 15) })
        assert.equal(hex(TAGS[kind]), hex(t:start()))
        local want1, want2
        if kind == "padded" then
          want1, want2 = frame.padded(P1, "PADDING"), string.pack("<I4", #P2) .. P2
        elseif kind == "full" then
          want1, want2 = frame.full(P1, 0), frame.full(P2, 1)
        else
          want1, want2 = frame[kind](P1), frame[kind](P2)
        end
        assert.equal(hex(want1), hex(t:encode(P1)))
        if kind == "padded" then
          -- 0x10 % 16 == 0: no padding on this one
          assert.equal(hex(want2), hex(t:encode(P2)))
        else
          assert.equal(hex(want2), hex(t:encode(P2)))
        end
        assert.equal(kind, t:kind())
      end)

      it("gives nothing for empty input", function()
        local t = new_client(kind)
        assert.is_true(t:feed(""))
        assert.is_nil(t:next())
        assert.is_nil(select(2, t:next()))
      end)

      it("parses one frame", function()
        local t = new_client(kind)
        t:feed(server_bytes(kind, { P1 }))
        assert.equal(hex(P1), hex(t:next()))
        assert.is_nil(t:next())
      end)

      it("parses two frames in one buffer", function()
        local t = new_client(kind)
        t:feed(server_bytes(kind, { P1, P2 }))
        local got = drain(t)
        assert.same({ hex(P1), hex(P2) }, { hex(got[1]), hex(got[2]) })
        assert.equal(2, #got)
      end)

      it("parses a frame split at every byte", function()
        local s = server_bytes(kind, { P1, P2 })
        for i = 0, #s do
          local t = new_client(kind)
          t:feed(s:sub(1, i))
          local got = drain(t)
          t:feed(s:sub(i + 1))
          for _, f in ipairs(drain(t)) do got[#got + 1] = f end
          assert.same({ hex(P1), hex(P2) }, { hex(got[1] or ""), hex(got[2] or "") })
        end
        -- and one byte at a time: nothing before the last byte of each frame
        local t = new_client(kind)
        local first = #server_bytes(kind, { P1 })
        for i = 1, #s do
          t:feed(s:sub(i, i))
          local f = t:next()
          if i == first then assert.equal(hex(P1), hex(f))
          elseif i == #s then assert.equal(hex(P2), hex(f))
          else assert.is_nil(f) end
        end
      end)

      it("rejects an oversized length before its body arrives, and stays failed", function()
        local t = new_client(kind)
        local head
        if kind == "abridged" then head = "\x7f" .. string.pack("<I3", (16 << 20) // 4 + 1)
        elseif kind == "full" then head = string.pack("<I4", (16 << 20) + 16)
        else head = string.pack("<I4", (16 << 20) + 16) end
        t:feed(head)
        local f, err = t:next()
        assert.is_nil(f)
        assert.same({ code = E_FRAME, message = "FRAME_INVALID", detail = "malformed transport frame" }, err)
        t:feed(server_bytes(kind, { P1 }))
        assert.equal(E_FRAME, select(2, t:next()).code)
      end)

      it("rejects a bad length", function()
        local t = new_client(kind)
        local bad = ({ abridged = "\x00", intermediate = string.pack("<I4", 6) .. "abcdef",
                       padded = string.pack("<I4", 2) .. "ab", full = string.pack("<I4I4", 8, 0) })[kind]
        t:feed(bad)
        assert.equal(E_FRAME, select(2, t:next()).code)
      end)

      it("reports a 4-byte frame as a transport error and goes on", function()
        local t = new_client(kind)
        local e = string.pack("<i4", -404)
        local s
        if kind == "full" then s = frame.full(e, 0) .. frame.full(P1, 1)
        elseif kind == "padded" then s = frame.padded(e, "") .. frame.padded(P1, "")
        else s = frame[kind](e) .. frame[kind](P1) end
        t:feed(s)
        local f, err = t:next()
        assert.is_nil(f)
        assert.same({ code = E_TRANSPORT, message = "TRANSPORT_ERROR_404", detail = "transport error -404",
          transport_code = -404 }, err)
        assert.equal(hex(P1), hex(t:next()))
      end)

      it("server detects the kind, parses, and answers in the same framing", function()
        local s = TAGS[kind] .. server_bytes(kind, { P1, P2 })
        for i = 0, #s do
          local srv = T.server { random = "\x03xyz" .. string.rep("-", 12) }
          srv:feed(s:sub(1, i))
          local got = drain(srv)
          srv:feed(s:sub(i + 1))
          for _, f in ipairs(drain(srv)) do got[#got + 1] = f end
          assert.same({ hex(P1), hex(P2) }, { hex(got[1] or ""), hex(got[2] or "") })
          assert.equal(kind, srv:kind())
        end
        local srv = T.server { random = "\x03xyz" .. string.rep("-", 12) }
        srv:feed(s)
        local want = kind == "padded" and frame.padded(P1, "xyz")
          or kind == "full" and frame.full(P1, 0) or frame[kind](P1)
        assert.equal(hex(want), hex(srv:encode(P1)))
        -- and the client side reads it back
        local c = new_client(kind)
        c:feed(want)
        local got = c:next()
        assert.equal(hex(kind == "padded" and P1 .. "xyz" or P1), hex(got))
      end)
    end)
  end

  it("abridged switches to the long length at 127 words", function()
    local t = new_client("abridged")
    local p126, p127 = string.rep("a", 126 * 4), string.rep("b", 127 * 4)
    assert.equal("7e", hex(t:encode(p126):sub(1, 1)))
    assert.equal("7f7f0000", hex(t:encode(p127):sub(1, 4)))
    t:feed("\x7e" .. p126 .. "\x7f\x7f\x00\x00" .. p127)
    assert.equal(p126, t:next())
    assert.equal(p127, t:next())
  end)

  it("server accepts a client's quick-ACK request bit; a client refuses the flag", function()
    local p127 = string.rep("q", 127 * 4)
    local srv = T.server()
    srv:feed("\xef" .. string.char(0x80 | (#P1 // 4)) .. P1 .. "\xff" .. string.pack("<I3", 127) .. p127)
    assert.equal(hex(P1), hex(srv:next()))
    assert.equal(p127, srv:next())
    srv = T.server()
    srv:feed("\xee\xee\xee\xee" .. string.pack("<I4", #P1 | 0x80000000) .. P1)
    assert.equal(hex(P1), hex(srv:next()))
    local c = new_client("abridged")
    c:feed(string.char(0x80 | (#P1 // 4)) .. P1)
    assert.equal(E_FRAME, select(2, c:next()).code)
    c = new_client("intermediate")
    c:feed(string.pack("<I4", #P1 | 0x80000000) .. P1)
    assert.equal(E_FRAME, select(2, c:next()).code)
  end)

  it("takes an unframed negative length as a transport error on the client side", function()
    for _, kind in ipairs { "intermediate", "padded", "full" } do
      local t = new_client(kind)
      local e = string.pack("<i4", -429)
      t:feed(e .. e .. e)
      for _ = 1, 3 do
        local f, err = t:next()
        assert.is_nil(f)
        assert.equal(-429, err.transport_code)
      end
      assert.is_nil(t:next())
      t:feed(server_bytes(kind, { P1 }))
      assert.equal(hex(P1), hex(t:next()))
      -- a large negative length is garbage, not an error code
      t:feed(string.pack("<i4", -0x10000))
      assert.equal(E_FRAME, select(2, t:next()).code)
    end
  end)

  it("full checks the CRC32 and the sequence number", function()
    local t = new_client("full")
    local f = frame.full(P1, 0)
    t:feed(f:sub(1, -2) .. string.char(f:byte(-1) ~ 1))
    assert.equal(E_FRAME, select(2, t:next()).code)
    t = new_client("full")
    t:feed(frame.full(P1, 1))   -- first frame must be seqno 0
    assert.equal(E_FRAME, select(2, t:next()).code)
    t = new_client("full")
    t:feed(frame.full(P1, 0) .. frame.full(P2, 0))
    assert.equal(P1, t:next())
    assert.equal(E_FRAME, select(2, t:next()).code)
  end)

  it("carries a frame of exactly 16 MiB, then small ones", function()
    local big = string.rep("\x5a", 16 << 20)
    local c, srv = T.client("intermediate"), T.server()
    assert.equal(16 << 20, T.MAX_FRAME)
    local w = c:start() .. c:encode(big) .. c:encode(P1)
    srv:feed(w:sub(1, 4096))
    assert.is_nil(srv:next())
    srv:feed(w:sub(4097))
    assert.is_true(srv:next() == big)
    assert.equal(hex(P1), hex(srv:next()))
    srv:feed(c:encode(P2))
    assert.equal(hex(P2), hex(srv:next()))
    assert.has_error(function() c:encode(big .. "abcd") end, "bad argument #1 to 'encode' (payload longer than 16 MiB)")
  end)

  it("padded gives the random tail to the message layer", function()
    local t = new_client("padded")
    t:feed(frame.padded(P1, "123456789012345"))
    assert.equal(P1 .. "123456789012345", t:next())
  end)

  it("raises on misuse", function()
    assert.has_error(function() T.client("tcp") end,
      "bad argument #1 to 'client' (unknown transport (abridged, intermediate, padded, full, obfuscated))")
    local t = T.client("abridged")
    assert.has_error(function() t:encode("abcd") end, "transport not started (call start first)")
    t:start()
    assert.has_error(function() t:start() end, "transport already started")
    assert.has_error(function() t:encode("abc") end,
      "bad argument #1 to 'encode' (abridged payload length must be a multiple of 4)")
    t:close()
    t:close()
    assert.has_error(function() t:next() end, "attempt to use a closed transport")
    assert.matches("^mtproto.transport %(closed%)", tostring(t))
    local srv = T.server()
    assert.is_nil(srv:kind())
    assert.has_error(function() srv:encode("abcd") end, "transport kind not detected yet")
  end)
end)

describe("obfuscated2", function()
  local crypto = core.crypto
  -- A fixed 64-byte "random" header: first byte not 0xef, bytes 4..8 not zero.
  local R = {}
  for i = 0, 63 do R[#R + 1] = string.char((i * 37 + 11) % 256) end
  R = table.concat(R)

  local INNER_TAG = { abridged = "\xef\xef\xef\xef", intermediate = "\xee\xee\xee\xee",
                      padded = "\xdd\xdd\xdd\xdd" }

  -- The header with tag and dc id, and both directions' keys, by the documented recipe.
  local function derive(inner, dc)
    local h = R:sub(1, 56) .. INNER_TAG[inner] .. string.pack("<i2", dc) .. R:sub(63, 64)
    local rev = h:sub(9, 56):reverse()
    return h, h:sub(9, 40), h:sub(41, 56), rev:sub(1, 32), rev:sub(33, 48)
  end

  for _, inner in ipairs { "abridged", "intermediate", "padded" } do
    it("client header and frames match AES-CTR over the documented layout (" .. inner .. ")", function()
      local h, key, iv = derive(inner, -2)
      local t = T.client("obfuscated", { inner = inner, dc_id = -2, random = R .. string.rep("\x00", 16) })
      local start = t:start()
      local stream = crypto.ctr(key, iv, h .. frame[inner == "padded" and "intermediate" or inner](P1))
      assert.equal(64, #start)
      assert.equal(hex(h:sub(1, 56)), hex(start:sub(1, 56)))
      assert.equal(hex(stream:sub(57, 64)), hex(start:sub(57, 64)))
      -- padded with the random byte 0: no padding, same bytes as intermediate
      assert.equal(hex(stream:sub(65)), hex(t:encode(P1)))
      assert.equal("obfuscated", t:kind())
      assert.equal(inner, t:inner())
    end)

    it("round trips through a server object with the reversed keys (" .. inner .. ")", function()
      local dc = ({ abridged = 10002, intermediate = -2, padded = 4 })[inner]
      local _, _, _, rkey, riv = derive(inner, dc)
      local c = T.client("obfuscated", { inner = inner, dc_id = dc, random = R .. string.rep("\x00", 32) })
      local wire = c:start() .. c:encode(P1) .. c:encode(P2)
      for i = 0, #wire do
        local srv = T.server { random = string.rep("\x00", 32) }
        srv:feed(wire:sub(1, i))
        local got = drain(srv)
        srv:feed(wire:sub(i + 1))
        for _, f in ipairs(drain(srv)) do got[#got + 1] = f end
        assert.same({ hex(P1), hex(P2) }, { hex(got[1] or ""), hex(got[2] or "") })
        assert.equal("obfuscated", srv:kind())
        assert.equal(inner, srv:inner())
        assert.equal(dc, srv:dc_id())
      end
      -- server -> client: a fresh CTR stream with the reversed key/iv
      local srv = T.server { random = string.rep("\x00", 32) }
      srv:feed(wire)
      drain(srv)
      local a, b = srv:encode(P2), srv:encode(P1)
      local plain = frame[inner == "padded" and "intermediate" or inner](P2)
        .. frame[inner == "padded" and "intermediate" or inner](P1)
      assert.equal(hex(crypto.ctr(rkey, riv, plain)), hex(a .. b))
      c:feed(a .. b)
      assert.equal(hex(P2), hex(c:next()))
      assert.equal(hex(P1), hex(c:next()))
      assert.is_nil(c:next())
      -- a transport error comes through the cipher too
      c:feed(srv:encode(string.pack("<i4", -429)))
      local f, err = c:next()
      assert.is_nil(f)
      assert.equal(-429, err.transport_code)
    end)
  end

  it("matches a header and frame produced by GramJS (npm telegram 2.26) from the same random bytes", function()
    -- GramJS leaves bytes 60..62 random; here they read as dc id -9033.
    local gram_header = "0b30557a9fc4e90e33587da2c7ec11365b80a5caef14395e83a8cdf2173c6186"
      .. "abd0f51a3f6489aed3f81d42678cb1d6fb20456a8fb4d9feef2ca40144c3eb30"
    local gram_frame = "80a4f206de6d212955074e92524cdc0e56db812a239006cb8fe3ef848397d8f68f5c80c3adaf122cf2"
    local t = T.client("obfuscated", { inner = "abridged", dc_id = string.unpack("<i2", R, 61), random = R })
    assert.equal(gram_header, hex(t:start()))
    assert.equal(gram_frame, hex(t:encode(string.rep("\xab", 40))))
  end)

  it("skips random headers that would look like another transport", function()
    local bad = "\xef" .. R:sub(2)                        -- abridged tag
    local bad2 = "\xee\xee\xee\xee" .. R:sub(5)           -- intermediate tag
    local bad3 = R:sub(1, 4) .. "\0\0\0\0" .. R:sub(9)    -- full transport's zero seqno
    local t = T.client("obfuscated", { random = bad .. bad2 .. bad3 .. R })
    local start = t:start()
    assert.equal(hex(R:sub(1, 56)), hex(start:sub(1, 56)))
  end)

  it("server rejects a header whose decrypted tag is unknown", function()
    local srv = T.server()
    srv:feed(R)
    local f, err = srv:next()
    assert.is_nil(f)
    assert.equal(E_FRAME, err.code)
    assert.equal(E_FRAME, select(2, srv:feed("more")).code)
  end)

  it("decrypts every byte exactly once whatever the feed sizes", function()
    local c = T.client("obfuscated", { inner = "intermediate", random = R })
    local wire = c:start()
    local payloads = {}
    for i = 1, 20 do
      payloads[i] = string.rep(string.char(i), 4 * i + 20)
      wire = wire .. c:encode(payloads[i])
    end
    local srv = T.server()
    local got, pos, step = {}, 1, 1
    while pos <= #wire do
      srv:feed(wire:sub(pos, pos + step - 1))
      pos = pos + step
      step = step % 13 + 1
      for _, f in ipairs(drain(srv)) do got[#got + 1] = f end
    end
    assert.same(payloads, got)
  end)
end)

describe("transport robustness", function()
  -- A fixed LCG: the same garbage on every run.
  local function lcg(seed)
    local s = seed
    return function(n)
      local t = {}
      for i = 1, n do
        s = (s * 6364136223846793005 + 1442695040888963407) & 0xffffffffffffffff
        t[i] = string.char((s >> 33) & 0xff)
      end
      return table.concat(t)
    end
  end

  it("answers garbage with frames, need-more or error codes, never anything else", function()
    local rnd = lcg(42)
    local allowed = { [E_FRAME] = true, [E_TRANSPORT] = true }
    for round = 1, 300 do
      local kinds = { "abridged", "intermediate", "padded", "full", "server" }
      local kind = kinds[round % #kinds + 1]
      local t = kind == "server" and T.server() or new_client(kind)
      for _ = 1, 8 do
        local chunk = rnd(string.byte(rnd(1)) % 80)
        -- small lengths now and then, so that some frames complete
        if #chunk > 0 and round % 3 == 0 then chunk = "\x02" .. chunk end
        local ok, ferr = t:feed(chunk)
        if not ok then assert.is_true(allowed[ferr.code]) end
        for _ = 1, 10 do
          local f, err = t:next()
          if err then
            assert.is_true(allowed[err.code], err.message)
            if err.code == E_FRAME then break end
          elseif not f then break
          else assert.is_string(f) end
        end
      end
      t:close()
    end
  end)
end)
