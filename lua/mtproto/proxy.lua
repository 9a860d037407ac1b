-- mtproto.proxy: what the `proxy` option of mtproto.client accepts, checked and made plain.
--
--   proxy.parse("tg://proxy?server=H&port=P&secret=S")      (also https://t.me/proxy?...,
--   proxy.parse("socks5://[user:pass@]host:port")             t.me/proxy?..., tg://proxy/?...)
--   proxy.parse{ type = "mtproxy", host =, port =, secret = }
--   proxy.parse{ type = "socks5", host =, port =, username =, password = }
--     -> { type = "mtproxy", host, port, secret = <16 bytes>, mode = "plain"|"dd"|"ee",
--          domain = <SNI name, ee only> }
--      | { type = "socks5", host, port, username, password }
--   Anything else raises an error whose message starts with "proxy: ".
--
--   proxy.secret(s) -> secret16, mode, domain    an MTProxy secret in hex, base64 or base64url:
--     16 bytes                  plain: obfuscated2 keyed with the secret
--     dd + 16 bytes             padded intermediate inside
--     ee + 16 bytes + domain    fake TLS (the domain is the name in the ClientHello)
local M = {}

local function fail(msg) error("proxy: " .. msg, 0) end

local B64 = {}
do
  local a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  for i = 1, #a do B64[a:sub(i, i)] = i - 1 end
  B64["+"], B64["/"], B64["-"], B64["_"] = 62, 63, 62, 63
end

local function from_hex(s)
  return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

-- base64 or base64url, padding optional; nil when s is neither.
local function from_base64(s)
  s = s:gsub("=+$", "")
  if #s % 4 == 1 then return nil end
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = B64[s:sub(i, i)]
    if not v then return nil end
    acc = (acc << 6) | v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((acc >> bits) & 0xff)
    end
  end
  return table.concat(out)
end

function M.secret(s)
  if type(s) ~= "string" or s == "" then fail("the secret must be a non-empty string") end
  local raw
  if #s % 2 == 0 and s:match("^%x+$") then raw = from_hex(s) else raw = from_base64(s) end
  if not raw then fail("the secret is neither hex nor base64: " .. s) end
  local n, tag = #raw, raw:byte(1)
  if n == 16 then return raw, "plain" end
  if n == 17 and tag == 0xdd then return raw:sub(2), "dd" end
  if n > 17 and tag == 0xee then
    local domain = raw:sub(18)
    if #domain > 182 then fail("the ee secret's domain is longer than 182 bytes") end
    return raw:sub(2, 17), "ee", domain
  end
  if n == 17 and tag == 0xee then fail("an ee secret needs the domain after its 16 bytes") end
  fail(("the secret must be 16 bytes, dd + 16 bytes or ee + 16 bytes + domain (got %d bytes)"):format(n))
end

local function check_port(p)
  local n = math.tointeger(tonumber(p))
  if not n or n < 1 or n > 65535 then fail("port must be 1..65535, got " .. tostring(p)) end
  return n
end

local function check_host(h)
  if type(h) ~= "string" or h == "" or #h > 255 then fail("host must be a non-empty string of at most 255 bytes") end
  return h
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function mtproxy(host, port, secret)
  local key, mode, domain = M.secret(secret)
  return { type = "mtproxy", host = check_host(host), port = check_port(port), secret = key,
    mode = mode, domain = domain }
end

local function socks5(host, port, user, pass)
  if (user == nil) ~= (pass == nil) then fail("username and password go together") end
  if user ~= nil then
    if type(user) ~= "string" or user == "" or #user > 255 then fail("username must be 1..255 bytes") end
    if type(pass) ~= "string" or pass == "" or #pass > 255 then fail("password must be 1..255 bytes") end
  end
  return { type = "socks5", host = check_host(host), port = check_port(port), username = user, password = pass }
end

-- "[::1]" -> "::1"; "host" as is.
local function unbracket(h)
  return h:match("^%[(.*)%]$") or h
end

local function parse_url(u)
  local q = u:match("^tg://proxy/?%?(.*)$") or u:match("^https?://t%.me/proxy/?%?(.*)$")
    or u:match("^t%.me/proxy/?%?(.*)$")
  if q then
    local args = {}
    for k, v in q:gmatch("([^&=]+)=([^&]*)") do args[unescape(k)] = unescape(v) end
    if not args.server or args.server == "" then fail("the link has no server=") end
    if not args.port then fail("the link has no port=") end
    if not args.secret then fail("the link has no secret= (a SOCKS5 link? use socks5://host:port)") end
    return mtproxy(unbracket(args.server), args.port, args.secret)
  end
  local rest = u:match("^socks5h?://(.*)$")
  if rest then
    rest = rest:gsub("/$", "")
    local cred, hp = rest:match("^(.*)@([^@]*)$")
    hp = hp or rest
    local user, pass
    if cred then
      user, pass = cred:match("^([^:]*):(.*)$")
      if not user then fail("socks5://user:pass@host:port: the password is missing") end
      user, pass = unescape(user), unescape(pass)
    end
    local host, port = hp:match("^%[(.+)%]:(%d+)$")
    if not host then host, port = hp:match("^([^:]+):(%d+)$") end
    if not host then fail("expected socks5://[user:pass@]host:port, got " .. u) end
    return socks5(host, port, user, pass)
  end
  fail("expected tg://proxy?..., https://t.me/proxy?..., socks5://... or a table, got " .. u)
end

function M.parse(p)
  if type(p) == "string" then return parse_url(p) end
  if type(p) ~= "table" then fail("expected a URL string or a table") end
  if p.type == "mtproxy" then
    if p.secret == nil then fail("an mtproxy needs a secret") end
    return mtproxy(p.host, p.port, p.secret)
  elseif p.type == "socks5" then
    return socks5(p.host, p.port, p.username, p.password)
  end
  fail("type must be \"mtproxy\" or \"socks5\", got " .. tostring(p.type))
end

return M
