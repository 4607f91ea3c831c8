-- A headless Neovim session against `sylva lsp` (see docs/editors.md):
--
--   SYLVA=target/debug/sylva nvim --headless -u NONE -l runtime/tests/editors/neovim_check.lua   (0.9+)
--   SYLVA=target/debug/sylva nvim --headless -u NONE -c 'luafile runtime/tests/editors/neovim_check.lua'
--
-- It opens a model with an error, waits for the diagnostic, fixes it by editing the buffer as
-- a person would, waits for the diagnostics to clear, then asks for a hover, a definition and
-- completions, and prints what it got. Exits 0 when every check passed, 1 otherwise.

local sylva = os.getenv('SYLVA') or 'sylva'
local dir = vim.fn.tempname()
vim.fn.mkdir(dir, 'p')
local path = dir .. '/leak.syl'
local f = io.open(path, 'w')
f:write([[
import hh

/// A leak.
density leak {
    current il
    /// Leak conductance density.
    param g: S/cm2 = 0.001 in [0, inf]
    param e: mV = -70
    il = g * (v - ee)
}

cell c {
    morphology { section soma { length = 20 um, diam = 20 um } }
    insert hh in soma
    insert leak in soma
}
]])
f:close()

local failed = false
local function check(ok, what)
  print((ok and 'ok   ' or 'FAIL ') .. what)
  if not ok then failed = true end
end

vim.cmd('edit ' .. path)
vim.bo.filetype = 'sylva'
-- Neovim 0.8+: vim.lsp.start({ name = 'sylva', cmd = { sylva, 'lsp' }, root_dir = dir })
local client_id = vim.lsp.start_client({ name = 'sylva', cmd = { sylva, 'lsp' }, root_dir = dir })
vim.lsp.buf_attach_client(0, client_id)

-- 1. The diagnostic of `ee`.
vim.wait(20000, function() return #vim.diagnostic.get(0) > 0 end, 50)
local diags = vim.diagnostic.get(0)
check(#diags == 1, 'one diagnostic on open (' .. #diags .. ')')
if diags[1] then
  print('     ' .. diags[1].lnum .. ':' .. diags[1].col .. ' ' .. tostring(diags[1].code) .. ' ' .. diags[1].message:gsub('\n', ' | '))
  check(diags[1].code == 'E0201' and diags[1].lnum == 8 and diags[1].col == 18, 'E0201 at 8:18')
end

-- 2. Fix it: delete one `e` of `ee` in the buffer.
vim.api.nvim_buf_set_text(0, 8, 18, 8, 19, {})
vim.wait(20000, function() return #vim.diagnostic.get(0) == 0 end, 50)
check(#vim.diagnostic.get(0) == 0, 'diagnostics cleared after the edit')

local function at(line, col)
  return { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = line, character = col } }
end

-- 3. Hover on `g` in `il = g * (v - e)`.
local hover = vim.lsp.buf_request_sync(0, 'textDocument/hover', at(8, 9), 10000)
local text = hover and hover[client_id] and hover[client_id].result and hover[client_id].result.contents.value or ''
print('     hover: ' .. text:gsub('\n', ' | '))
check(text:find('unit: `S/cm2`', 1, true) ~= nil and text:find('default: `0.001`', 1, true) ~= nil, 'hover shows unit and default')

-- 4. Definition of `hh` in `insert hh in soma`.
local def = vim.lsp.buf_request_sync(0, 'textDocument/definition', at(13, 12), 10000)
local loc = def and def[client_id] and def[client_id].result
local uri = loc and (loc.uri or (loc[1] and loc[1].uri)) or ''
print('     definition: ' .. uri)
check(uri:match('/hh%.syl$') ~= nil, 'definition of hh is the standard library file')

-- 5. Completion after `insert ` (typed into a new line).
vim.api.nvim_buf_set_lines(0, 15, 15, false, { '    insert ' })
local items = vim.lsp.buf_request_sync(0, 'textDocument/completion', at(15, 11), 10000)
local labels = {}
for _, item in ipairs((items and items[client_id] and items[client_id].result) or {}) do
  table.insert(labels, item.label)
end
print('     completion: ' .. table.concat(labels, ' '))
check(vim.tbl_contains(labels, 'hh') and vim.tbl_contains(labels, 'leak'), 'completion offers hh and leak')

vim.lsp.stop_client(client_id)
vim.cmd(failed and 'cquit 1' or 'qall!')
