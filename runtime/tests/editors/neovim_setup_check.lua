-- Run by `neovim_runs_the_documented_setup` (runtime/tests/editors.rs) after Neovim has read
-- the setup of docs/editors.md as its init.lua and opened a model whose line 2 has an error.
-- Prints one line per check and quits with 1 if any failed.

local failed = false
local function check(ok, what)
  print((ok and 'ok   ' or 'FAIL ') .. what)
  if not ok then failed = true end
end

check(vim.bo.filetype == 'sylva', 'filetype sylva (got "' .. vim.bo.filetype .. '")')
check(vim.bo.commentstring == '// %s', 'comment string // %s (got "' .. vim.bo.commentstring .. '")')

vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 50)
-- vim.lsp.get_clients from Neovim 0.10; buf_get_clients before.
local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = 0 }) or vim.lsp.buf_get_clients(0)
local names = {}
for _, client in pairs(clients) do
  table.insert(names, client.name)
end
check(vim.tbl_contains(names, 'sylva'), 'a client named sylva is attached (' .. table.concat(names, ' ') .. ')')

local found = false
for _, d in ipairs(vim.diagnostic.get(0)) do
  print('     ' .. d.lnum .. ':' .. d.col .. ' ' .. tostring(d.code) .. ' ' .. d.message:gsub('\n', ' | '))
  if d.code == 'E0201' and d.lnum == 1 and d.col == 18 then found = true end
end
check(found, 'E0201 at line 2, column 19')

vim.lsp.stop_client(clients)
vim.cmd(failed and 'cquit 1' or 'qall!')
