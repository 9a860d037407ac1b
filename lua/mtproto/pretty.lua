--- mtproto.pretty(obj [, opts]): a readable, nested rendering of a TL object.
--
--   { _ = "auth.sentCode", type = { _ = "auth.sentCodeTypeSms", length = 5 },
--     phone_code_hash = "9d5d6b5e3a1c2f4e80", next_type = { _ = "auth.codeTypeCall" },
--     timeout = 120 }
--
-- `_` comes first, then the other fields in schema order (name order for fields the
-- schema does not know, or without the codec); sequences keep their order.
-- Strings that are not printable UTF-8 text are shown as hex: <8 bytes 0a1b...>.
-- A table that fits in `opts.width` columns (default 80) stays on one line.
-- opts.indent (default "  "), opts.max_bytes (hex shown for at most this many bytes, default 64).
-- @module mtproto.pretty
local M = {}

local function printable(s)
  if s:find("[%z\1-\8\11\12\14-\31\127]") then return false end
  return utf8.len(s) ~= nil
end

local function hex(s, max)
  local n = #s
  local part = n > max and s:sub(1, max) or s
  local h = part:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  return string.format("<%d bytes %s%s>", n, h, n > max and "..." or "")
end

local function is_ident(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- The schema order of a constructor's fields, when the codec knows it.
local function schema_order(name, info)
  if type(name) ~= "string" or not info then return nil end
  local ok, i = pcall(info, name)
  if not ok or type(i) ~= "table" or type(i.params) ~= "table" then return nil end
  local order = {}
  for idx, p in ipairs(i.params) do
    local pname = type(p) == "table" and p.name or p
    if type(pname) == "string" then order[pname] = idx end
  end
  return order
end

local function sorted_keys(t, info)
  local n = #t
  local keys = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) and k ~= "_" then
      keys[#keys + 1] = k
    end
  end
  local order = schema_order(t._, info) or {}
  table.sort(keys, function(a, b)
    local oa, ob = order[a], order[b]
    if oa and ob then return oa < ob end
    if oa or ob then return oa ~= nil end
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "string" or ta == "number" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys, n
end

local function scalar(v, opts)
  local tv = type(v)
  if tv == "string" then
    if printable(v) then return string.format("%q", v):gsub("\\\n", "\\n") end
    return hex(v, opts.max_bytes)
  elseif tv == "number" then
    if math.type(v) == "float" and v == math.floor(v) and v == v and v ~= math.huge and v ~= -math.huge then
      return string.format("%.1f", v)
    end
    return tostring(v)
  end
  return tostring(v)
end

local render

-- Returns the list of "key = value" parts of table t (rendered inline).
local function parts(t, opts, seen, depth, inline)
  local out = {}
  if t._ ~= nil then out[1] = "_ = " .. render(t._, opts, seen, depth + 1, inline) end
  local keys, n = sorted_keys(t, opts.info)
  for i = 1, n do out[#out + 1] = render(t[i], opts, seen, depth + 1, inline) end
  for _, k in ipairs(keys) do
    local ks = is_ident(k) and k or ("[" .. scalar(k, opts) .. "]")
    out[#out + 1] = ks .. " = " .. render(t[k], opts, seen, depth + 1, inline)
  end
  return out
end

function render(v, opts, seen, depth, inline)
  if type(v) ~= "table" then return scalar(v, opts) end
  local mt = getmetatable(v)
  if mt and mt.__tostring and mt.__name == "mtproto.Error" then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth > opts.max_depth then return "{...}" end
  seen[v] = true
  local one = "{ " .. table.concat(parts(v, opts, seen, depth, true), ", ") .. " }"
  if one == "{  }" then one = "{}" end
  local result
  if inline or (#one + depth * #opts.indent <= opts.width and not one:find("\n")) then
    result = one
  else
    local pad = opts.indent:rep(depth + 1)
    local lines = parts(v, opts, seen, depth, false)
    result = "{\n" .. pad .. table.concat(lines, ",\n" .. pad) .. "\n" .. opts.indent:rep(depth) .. "}"
  end
  seen[v] = nil
  return result
end

--- mtproto.pretty(obj [, opts]) -> a readable, nested rendering of a TL object (a string).
-- opts: width (80), indent ("  "), max_bytes (64: longer byte strings are cut), max_depth (64),
-- info (field order; default tl.info).
function M.pretty(obj, opts)
  opts = opts or {}
  local o = {
    width = opts.width or 80, indent = opts.indent or "  ",
    max_bytes = opts.max_bytes or 64, max_depth = opts.max_depth or 64,
    info = opts.info,
  }
  if o.info == nil then
    -- Field order from the schema when the codec is available; else name order.
    local ok, tl = pcall(require, "mtproto.tl")
    if ok and type(tl) == "table" and type(tl.info) == "function" then o.info = tl.info end
  end
  return render(obj, o, {}, 0, false)
end

setmetatable(M, { __call = function(_, obj, opts) return M.pretty(obj, opts) end })

return M
