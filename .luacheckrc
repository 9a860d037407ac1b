-- luacheck over lua/, spec/, bench/, examples/, bin/ (CI runs `luacheck .`)
std = "lua54"
self = false  -- methods keep `self` even when they do not use it
max_line_length = 120
max_code_line_length = 120
exclude_files = { "interop/node_modules/**", "build/**", "build-san/**", "fuzz/**", ".luarocks/**" }
files["spec/"] = { std = "+busted" }
-- specs keep golden vectors (hex, TL lines) on one line each
files["spec/"].max_line_length = false
files["spec/"].max_code_line_length = false
