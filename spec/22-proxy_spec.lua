-- Proxy stages without sockets: MTProxy secrets, obfuscated2 keyed with a secret, fake TLS
-- (ClientHello digest, server answers, records) and the SOCKS5 client.
--
-- Public vectors from gotd/td (MIT licence, github.com/gotd/td):
--   mtproxy/secret_test.go                       the secret kinds
--   mtproxy/obfuscated2/obfuscated2_test.go      TestEncrypt, Test_generateKeys
--   mtproxy/faketls/faketls_test.go @647a198     TestTLS: a signed ClientHello
--                                                 (spec/fixtures/faketls_client_hello_gotd.hex)
--   mtproxy/faketls/testdata/server_hello/*.hex  answers recorded from two MTProxy servers
--                                                 (alexbers' mtprotoproxy, mtg v2) with their
--                                                 client randoms from server_hello_test.go
local core = require("mtproto.core")
local proxy = require("mtproto.proxy")
local H = require("helpers")
local P, T = core.proxy, core.transport
local hex, unhex = H.hex, H.unhex

local E_FRAME = -14
local E_PROXY_AUTH, E_PROXY_REFUSED, E_PROXY_PROTO, E_PROXY_SECRET = -22, -23, -24, -25

local function fixture(name)
  return unhex((H.slurp(os.getenv("MTPROTO_ROOT") .. "/spec/fixtures/" .. name):gsub("%s+", "")))
end

describe("MTProxy secrets", function()
  -- gotd's rows (hex) with the same bytes in base64 and base64url
  local rows = {
    { "52a493bdfb90eea55739eabff2d92a14", "UqSTvfuQ7qVXOeq/8tkqFA==", "UqSTvfuQ7qVXOeq_8tkqFA", "plain" },
    { "ddf05fb7acb549be047a7c585116581418", "3fBft6y1Sb4EenxYURZYFBg=", "3fBft6y1Sb4EenxYURZYFBg", "dd" },
    { "ee852380f362a09343efb4690c4e17862e676f6f676c652e636f6d",
      "7oUjgPNioJND77RpDE4Xhi5nb29nbGUuY29t", "7oUjgPNioJND77RpDE4Xhi5nb29nbGUuY29t", "ee", "google.com" },
    { "eedf71035a8ed48a623d8e83e66aec4d0562696e672e636f6d",
      "7t9xA1qO1IpiPY6D5mrsTQViaW5nLmNvbQ==", "7t9xA1qO1IpiPY6D5mrsTQViaW5nLmNvbQ", "ee", "bing.com" },
    { "ee7cea5c13d65f12fd808de70ddcc8d3a979616e6465782e7275",
      "7nzqXBPWXxL9gI3nDdzI06l5YW5kZXgucnU=", "7nzqXBPWXxL9gI3nDdzI06l5YW5kZXgucnU", "ee", "yandex.ru" },
  }
  for _, r in ipairs(rows) do
    it(r[4] .. " " .. r[1] .. " in hex, base64 and base64url", function()
      local raw = unhex(r[1])
      local want = r[4] == "plain" and raw or raw:sub(2, 17)
      for i = 1, 3 do
        local key, mode, domain = proxy.secret(r[i])
        assert.equal(hex(want), hex(key))
        assert.equal(r[4], mode)
        assert.equal(r[5], domain)
      end
    end)
  end

  it("refuses gotd's bad rows, an ee secret without a domain and what is neither hex nor base64", function()
    for _, s in ipairs { "52a493bdfb90eea55739eabff2d92a", "52a493bdfb90eea55739eabff2d92a1422", "dd",
                         "eef05fb7acb549be047a7c585116581418", "not a secret!", "" } do
      local ok, err = pcall(proxy.secret, s)
      assert.is_false(ok, s)
      assert.matches("^proxy: ", err)
    end
  end)

  it("reads tg://proxy and t.me links, percent-escaped secrets and socks5 URLs", function()
    local p = proxy.parse("tg://proxy?server=proxy.example&port=443&secret=ddf05fb7acb549be047a7c585116581418")
    assert.same({ type = "mtproxy", host = "proxy.example", port = 443, mode = "dd",
      secret = unhex("f05fb7acb549be047a7c585116581418") }, p)
    p = proxy.parse("https://t.me/proxy?server=1.2.3.4&port=8443&secret=7t9xA1qO1IpiPY6D5mrsTQViaW5nLmNvbQ%3D%3D")
    assert.equal("ee", p.mode)
    assert.equal("bing.com", p.domain)
    assert.equal(8443, p.port)
    p = proxy.parse("tg://proxy?server=[::1]&port=1&secret=UqSTvfuQ7qVXOeq%2F8tkqFA%3D%3D")
    assert.equal("::1", p.host)
    assert.equal("plain", p.mode)
    assert.same({ type = "socks5", host = "10.0.0.1", port = 1080 }, proxy.parse("socks5://10.0.0.1:1080"))
    assert.same({ type = "socks5", host = "::1", port = 9050, username = "u s", password = "p:w" },
      proxy.parse("socks5://u%20s:p:w@[::1]:9050"))
    assert.same({ type = "socks5", host = "h", port = 1, username = "a", password = "b" },
      proxy.parse{ type = "socks5", host = "h", port = 1, username = "a", password = "b" })
    for _, bad in ipairs { "tg://proxy?server=h&port=99999&secret=52a493bdfb90eea55739eabff2d92a14",
                           "tg://proxy?server=h&port=1", "socks5://h", "http://h:1", "socks5://user@h:1",
                           "tg://proxy?port=1&secret=52a493bdfb90eea55739eabff2d92a14" } do
      local ok, err = pcall(proxy.parse, bad)
      assert.is_false(ok, bad)
      assert.matches("^proxy: ", err)
    end
    for _, bad in ipairs { { type = "mtproxy", host = "h", port = 1 }, { type = "http", host = "h", port = 1 },
                           { type = "socks5", host = "h", port = 1, username = "u" }, 42 } do
      assert.has_error(function() proxy.parse(bad) end)
    end
  end)
end)

describe("obfuscated2 keyed with a secret", function()
  -- gotd TestEncrypt: secret, the 64 random bytes, padded tag (dd), DC 2
  local secret = unhex("8a96ef6e42a18c21837580cd1c91c5a8")
  local rand = string.char(245, 118, 143, 80, 183, 49, 38, 10, 70, 190, 16, 39, 194, 238, 170,
    57, 53, 6, 36, 240, 182, 218, 89, 235, 165, 108, 129, 254, 69, 16,
    194, 224, 182, 29, 61, 211, 35, 238, 2, 56, 134, 51, 227, 131, 122,
    12, 28, 36, 250, 111, 41, 204, 215, 36, 190, 111, 65, 111, 247, 176,
    38, 246, 204, 230)

  it("makes gotd's header and both key streams", function()
    local c = T.client("obfuscated", { inner = "padded", dc_id = 2, secret = secret, random = rand })
    local h = c:start()
    assert.equal(hex(rand:sub(1, 56) .. string.char(190, 162, 221, 225, 109, 197, 157, 210)), hex(h))
    -- a 4-byte payload goes unpadded: frame = length 4 | payload, encrypted after the header
    local e = c:encode("wxyz")
    local plain = string.pack("<I4", 4) .. "wxyz"
    local ks = {}
    for i = 1, 4 do ks[i] = string.char(e:byte(i) ~ plain:byte(i) ~ ("abcd"):byte(i)) end
    assert.equal(hex(string.char(202, 122, 130, 38)), hex(table.concat(ks)))
    -- the server of that header encrypts with the client's decryption stream
    local s = T.server { secret = secret }
    assert(s:feed(h))
    assert.equal("obfuscated", s:kind())
    assert.equal("padded", s:inner())
    assert.equal(2, s:dc_id())
    e = s:encode("wxyz")
    for i = 1, 4 do ks[i] = string.char(e:byte(i) ~ plain:byte(i) ~ ("abcd"):byte(i)) end
    assert.equal(hex(string.char(143, 113, 25, 130)), hex(table.concat(ks)))
    local answer = "an answer of at least 20 bytes"
    assert(c:feed(e .. s:encode(answer)))
    local _, err = c:next()
    assert.equal((string.unpack("<i4", "wxyz")), err.transport_code)   -- 4 bytes: a transport error
    assert.equal(answer, c:next():sub(1, #answer))
  end)

  it("makes gotd's header from 64 'a' bytes, secret aa..aa, DC 2", function()
    local c = T.client("obfuscated", { inner = "padded", dc_id = 2, secret = unhex(string.rep("aa", 16)),
      random = string.rep("a", 64) })
    assert.equal(hex(string.rep("a", 56) .. string.char(171, 65, 98, 66, 79, 102, 253, 220)), hex(c:start()))
  end)

  it("a server with another secret finds no valid tag; one without a secret takes it for garbage", function()
    local c = T.client("obfuscated", { inner = "padded", dc_id = 2, secret = secret, random = rand })
    local h = c:start()
    local other = T.server { secret = unhex(string.rep("11", 16)) }
    local ok, err = other:feed(h)
    assert.is_nil(ok)
    assert.equal(E_FRAME, err.code)
    assert.has_error(function() T.client("padded", { secret = secret }) end,
      "bad argument #2 to 'client' ('secret' needs the obfuscated transport)")
    assert.has_error(function() T.client("obfuscated", { secret = "short" }) end,
      "bad argument #2 to 'client' ('secret' must be 16 bytes)")
  end)

  it("a TLS server waits through records that carry no stream bytes yet", function()
    local s = T.server { secret = secret, tls = true }
    assert(s:feed("\20\3\3\0\1\1"))
    assert(s:feed("\23\3\3"))
    assert.is_nil(s:kind())
    assert.is_nil(s:next())
  end)

  it("carries every inner framing, with and without TLS records, split at every byte", function()
    local msg = string.rep("0123456789abcdef", 5)
    for _, inner in ipairs { "abridged", "intermediate", "padded" } do
      for _, tls in ipairs { false, true } do
        local c = T.client("obfuscated", { inner = inner, dc_id = -3, secret = secret, tls = tls })
        local wire = c:start() .. c:encode(msg) .. c:encode(msg .. msg)
        if tls then
          -- a ChangeCipherSpec record, then application data records only
          assert.equal("140303000101", hex(wire:sub(1, 6)))
          local pos = 7
          while pos <= #wire do
            assert.equal("170303", hex(wire:sub(pos, pos + 2)))
            pos = pos + 5 + string.unpack(">I2", wire, pos + 3)
          end
          assert.equal(#wire + 1, pos)
        end
        for cut = 0, #wire, 7 do
          local s = T.server { secret = secret, tls = tls }
          assert(s:feed(wire:sub(1, cut)))
          assert(s:feed(wire:sub(cut + 1)))
          assert.equal(inner, s:inner())
          assert.equal(-3, s:dc_id())
          assert.equal(msg, s:next():sub(1, #msg))
          assert.equal(msg .. msg, s:next():sub(1, 2 * #msg))
        end
      end
    end
  end)
end)

describe("fake TLS", function()
  it("signs gotd's ClientHello (secret 32 zero bytes, 2010-10-10 01:01:01 UTC) to the same bytes", function()
    local hello = fixture("faketls_client_hello_gotd.hex")
    assert.equal(517, #hello)
    assert.equal(hex(hello), hex(P.faketls_sign(string.rep("\0", 32), hello, 1286672461)))
    assert.are_not.equal(hex(hello), hex(P.faketls_sign(string.rep("\0", 32), hello, 1286672462)))
  end)

  it("accepts the answers recorded from alexbers' and mtg's servers, at every length only when whole", function()
    local secret = unhex("00000000000000000000000000000001")
    local rows = {
      { "faketls_server_hello_alexbers.hex",
        "a132e3916083b314c1b974d05785e8ee70456e5f866d9657d50a5c08ea38318e" },
      { "faketls_server_hello_mtgv2.hex",
        "ca36bba833809a33aa627ebb5a32a10102d1a61e1e6c58a461d934574d2e2ea3" },
    }
    for _, r in ipairs(rows) do
      local answer, cr = fixture(r[1]), unhex(r[2])
      assert.equal(#answer, P.faketls_client_check(secret, cr, answer))
      assert.equal(#answer, P.faketls_client_check(secret, cr, answer .. "\23\3\3\0\1x"))
      for cut = 0, #answer - 1, 97 do assert.is_false(P.faketls_client_check(secret, cr, answer:sub(1, cut))) end
      assert.is_false(P.faketls_client_check(secret, cr, answer:sub(1, -2)))
      local _, err = P.faketls_client_check(unhex(string.rep("00", 16)), cr, answer)
      assert.equal(E_PROXY_SECRET, err.code)
      _, err = P.faketls_client_check(secret, cr:sub(2) .. "x", answer)
      assert.equal(E_PROXY_SECRET, err.code)
      _, err = P.faketls_client_check(secret, cr, "\23" .. answer:sub(2))
      assert.equal(E_PROXY_PROTO, err.code)
    end
  end)

  local secret = unhex("0123456789abcdef0123456789abcdef")

  -- Walks the ClientHello as a TLS parser would; returns the extension types in order and the SNI.
  local function parse_hello(h)
    assert.equal("160301", hex(h:sub(1, 3)))
    assert.equal(#h - 5, string.unpack(">I2", h, 4))
    assert.equal(1, h:byte(6))
    assert.equal(#h - 9, string.unpack(">I3", h, 7))
    assert.equal("0303", hex(h:sub(10, 11)))
    assert.equal(32, h:byte(44))
    local pos = 77
    local nsuites = string.unpack(">I2", h, pos)
    pos = pos + 2 + nsuites
    assert.equal("0100", hex(h:sub(pos, pos + 1)))
    pos = pos + 2
    local extlen = string.unpack(">I2", h, pos)
    pos = pos + 2
    assert.equal(#h, pos + extlen - 1)
    local types, sni = {}, nil
    while pos <= #h do
      local typ, len = string.unpack(">I2>I2", h, pos)
      types[#types + 1] = typ
      if typ == 0 then sni = h:sub(pos + 9, pos + 3 + len) end
      pos = pos + 4 + len
    end
    assert.equal(#h + 1, pos)
    return types, sni
  end

  it("makes a 517-byte browser-shaped ClientHello that the server side checks", function()
    local now = 1700000000
    local orders = {}
    for i = 1, 8 do
      local domain = i == 1 and string.rep("d", 182) or "www.example.com"
      local hello, cr = P.faketls_hello(secret, domain, now)
      assert.equal(517, #hello)
      local types, sni = parse_hello(hello)
      assert.equal(domain, sni)
      assert.equal(0x15, types[#types])                       -- padding last
      assert.equal(0x0a, types[1] & 0x0f)                      -- GREASE first
      orders[#orders + 1] = table.concat(types, ",")
      local used, cr2, sid = P.faketls_server_check(secret, hello .. "rest", now + 5, 120)
      assert.equal(517, used)
      assert.equal(hex(cr), hex(cr2))
      assert.equal(hex(hello:sub(45, 76)), hex(sid))
      -- gotd's own check of the digest, done here by hand: HMAC over the hello with the
      -- random zeroed, the last 4 bytes XOR the time
      assert.equal(hex(hello), hex(P.faketls_sign(secret, hello, now)))
    end
    -- extensions are shuffled like Chrome's
    local distinct = {}
    for _, o in ipairs(orders) do distinct[o] = true end
    assert.is_true(next(distinct, next(distinct)) ~= nil)
    assert.has_error(function() P.faketls_hello(secret, string.rep("d", 183), now) end,
      "bad argument #2 to 'faketls_hello' (domain must be 1..182 bytes)")
  end)

  it("the server side refuses another secret, a stale time and what is not a ClientHello", function()
    local hello = P.faketls_hello(secret, "example.org", 1700000000)
    local _, err = P.faketls_server_check(unhex(string.rep("ab", 16)), hello, 1700000000, 120)
    assert.equal(E_PROXY_SECRET, err.code)
    _, err = P.faketls_server_check(secret, hello, 1700000000 + 121, 120)
    assert.equal(E_PROXY_SECRET, err.code)
    assert.equal(517, (P.faketls_server_check(secret, hello, 1700000000 - 120, 120)))
    for cut = 0, 516, 11 do assert.is_false(P.faketls_server_check(secret, hello:sub(1, cut), 1700000000, 120)) end
    _, err = P.faketls_server_check(secret, "\238\238\238\238" .. string.rep("x", 60), 1700000000, 120)
    assert.equal(E_PROXY_PROTO, err.code)
    _, err = P.faketls_server_check(secret, "\22\3\1\1\255" .. string.rep("x", 600), 1700000000, 120)
    assert.equal(E_PROXY_PROTO, err.code)                       -- record of 511 bytes: too short
  end)

  it("the server side takes a longer hello (a post-quantum key share) only up to max_record", function()
    local now = 1700000000
    local body = P.faketls_hello(secret, "example.org", now):sub(6) .. string.rep("\0", 1204)
    local big = P.faketls_sign(secret, "\22\3\1" .. string.pack(">I2", #body) .. body, now)
    assert.equal(1721, #big)
    local _, err = P.faketls_server_check(secret, big, now, 120)                   -- Telegram's 767
    assert.equal(E_PROXY_PROTO, err.code)
    _, err = P.faketls_server_check(secret, big, now, 120, 1715)
    assert.equal(E_PROXY_PROTO, err.code)
    assert.equal(1721, (P.faketls_server_check(secret, big .. "records", now, 120, 16384)))
    assert.equal(1721, (P.faketls_server_check(secret, big, now, 120, 1716)))
    assert.is_false(P.faketls_server_check(secret, big:sub(1, 1720), now, 120, 16384))
    _, err = P.faketls_server_check(unhex(string.rep("ab", 16)), big, now, 120, 16384)
    assert.equal(E_PROXY_SECRET, err.code)
    assert.has_error(function() P.faketls_server_check(secret, big, now, 120, 16385) end,
      "bad argument #5 to 'faketls_server_check' (expected 512..16384)")
  end)

  it("the server's answer passes the client's check with the right secret only", function()
    local hello, cr = P.faketls_hello(secret, "example.org", 1700000000)
    local _, cr2, sid = P.faketls_server_check(secret, hello, 1700000000, 120)
    local answer = P.faketls_server_hello(secret, cr2, sid)
    assert.equal(#answer, P.faketls_client_check(secret, cr, answer))
    assert.equal(hex(sid), hex(answer:sub(45, 76)))            -- the session id echoed
    local _, err = P.faketls_client_check(unhex(string.rep("ab", 16)), cr, answer)
    assert.equal(E_PROXY_SECRET, err.code)
  end)

  it("records: wrapped in 16 KiB pieces, read back split anywhere, ChangeCipherSpec skipped", function()
    local data = string.rep("abcdefghijklmnopqrstuvwxyz", 1500)    -- 39000 bytes: 3 records
    local wire = "\20\3\3\0\1\1" .. P.tls_wrap(data) .. "\20\3\3\0\1\1" .. P.tls_wrap("tail")
    assert.equal("170303" .. "4000", hex(P.tls_wrap(data):sub(1, 5)))
    assert.equal(6 + #data + 15 + 6 + 9, #wire)
    for _, step in ipairs { 1, 5, 4097, #wire } do
      local r, got = P.tls_reader(), {}
      for i = 1, #wire, step do got[#got + 1] = assert(r:feed(wire:sub(i, i + step - 1))) end
      assert.equal(data .. "tail", table.concat(got))
    end
    for _, bad in ipairs { "\21\3\3\0\2\2\40", "\22\3\3\0\1\1", "\23\3\3\0\0", "\23\2\3\0\1x" } do
      local _, err = P.tls_reader():feed(bad)
      assert.equal(E_FRAME, err.code)
    end
  end)
end)

describe("SOCKS5 client", function()
  -- feeds the proxy's bytes one at a time; returns what the client sent after the greeting
  local function run(s, answers)
    local sent = {}
    for _, a in ipairs(answers) do
      for i = 1, #a do
        local out, done, used = s:feed(a:sub(i, i))
        if out == nil then return nil, done end
        assert.equal(1, used)
        if out ~= "" then sent[#sent + 1] = out end
        if done then return sent end
      end
    end
    return sent, "incomplete"
  end

  it("asks for CONNECT with the address as given: IPv4, IPv6 or a name", function()
    local rows = {
      { "149.154.167.51", 443, "050100" .. "01" .. "959aa733" .. "01bb" },
      { "2001:67c:4e8:f002::a", 443, "050100" .. "04" .. "2001067c04e8f002000000000000000a" .. "01bb" },
      { "venus.web.telegram.org", 80, "050100" .. "03" .. "16" .. hex("venus.web.telegram.org") .. "0050" },
    }
    for _, r in ipairs(rows) do
      local s = P.socks5(r[1], r[2])
      assert.equal("050100", hex(s:start()))
      local sent = assert(run(s, { "\5\0", "\5\0\0\1\127\0\0\1\4\56" }))
      assert.same({ r[3] }, { hex(sent[1]) })
    end
  end)

  it("logs in with RFC 1929 when it has a login", function()
    local s = P.socks5("127.0.0.1", 443, "user", "secret")
    assert.equal("05020002", hex(s:start()))
    local sent = assert(run(s, { "\5\2", "\1\0", "\5\0\0\3\4host\1\187" }))
    assert.equal("01" .. "04" .. hex("user") .. "06" .. hex("secret"), hex(sent[1]))
    assert.equal("050100017f00000101bb", hex(sent[2]))
  end)

  it("leaves the bytes after the reply to the tunnel", function()
    local s = P.socks5("127.0.0.1", 443)
    s:start()
    s:feed("\5\0")
    local out, done, used = s:feed("\5\0\0\4" .. string.rep("\0", 16) .. "\0\80" .. "TUNNEL")
    assert.equal("", out)
    assert.is_true(done)
    assert.equal(22, used)
  end)

  it("takes a CONNECT reply naming a 255-byte host (the longest reply there is)", function()
    local s = P.socks5("127.0.0.1", 443)
    s:start()
    s:feed("\5\0")
    local reply = "\5\0\0\3\255" .. string.rep("h", 255) .. "\1\187"
    local out, done, used = s:feed(reply .. "after")
    assert.equal("", out)
    assert.is_true(done)
    assert.equal(#reply, used)
  end)

  it("reports a refused login, a refused target and what is not SOCKS5", function()
    local rows = {
      { {}, { "\5\255" }, E_PROXY_AUTH },
      { {}, { "\5\2" }, E_PROXY_AUTH },                              -- a login we do not have
      { { "u", "p" }, { "\5\2", "\1\1" }, E_PROXY_AUTH },
      { {}, { "\5\0", "\5\5" }, E_PROXY_REFUSED, 5, "connection refused" },
      { {}, { "\5\0", "\5\4\0\1" }, E_PROXY_REFUSED, 4, "host unreachable" },
      { {}, { "HTTP/1.1 400" }, E_PROXY_PROTO },
      { {}, { "\5\0", "\5\0\0\9\0" }, E_PROXY_PROTO },
    }
    for _, r in ipairs(rows) do
      local s = P.socks5("10.1.2.3", 443, r[1][1], r[1][2])
      s:start()
      local sent, err = run(s, r[2])
      assert.is_nil(sent)
      assert.equal(r[3], err.code)
      assert.equal(r[4], err.reply)
      if r[5] then assert.equal(r[5], err.detail) end
      local _, again = s:feed("\5\0")
      assert.equal(r[3], again.code)                              -- sticky
    end
    assert.has_error(function() P.socks5("", 1) end)
    assert.has_error(function() P.socks5("h", 1, "user") end)
    assert.has_error(function() P.socks5("h", 1, string.rep("u", 256), "p") end)
  end)
end)
