export {
  applyEdits,
  applyPreparedEdit,
  prepareEdit,
  prepareEdits,
  editLabel,
  EDIT_KEYS,
  EDIT_OPS,
  type Edit,
  type EditOp,
  type EditOptions,
  type HostFiles,
  type PreparedEdit,
  type ModeValue,
  type WriteEdit,
  type AppendEdit,
  type MkdirEdit,
  type SymlinkEdit,
  type LinkEdit,
  type MknodEdit,
  type ChmodEdit,
  type ChownEdit,
  type RemoveEdit,
  type RenameEdit,
  type DevicesEdit,
  type SysusersEdit,
  type PasswordEdit,
  type SedEdit,
} from './ops.js';
export { parseSysusers, applySysusers, prepareAccountFiles, type SysusersLine, type SysusersResult } from './sysusers.js';
export { crypt, makeSetting, hashPassword, checkHashSyntax, schemeForImage, type PasswordScheme } from './crypt.js';
export { parseSedScript, applySed, type SedScript, type SedCommand } from './sed.js';
export { parseDeviceTable, applyDeviceTable, expandEntry, type DeviceEntry, type DeviceType, type DeviceTableOptions } from './devtable.js';
export { excludeMatcher, checkExcludePatterns, normalizePath, type PathMatcher } from './glob.js';
export { parseRecipe, resolvePath, RECIPE_KEYS, RECIPE_INPUT_KEYS, type Recipe, type RecipeInput, type ParseRecipeOptions } from './recipe.js';
export { RECIPE_SCHEMA, EDIT_SCHEMAS } from './recipe-schema.js';
export { parseModeSpec, parseOctalMode, type ModeSpec } from './mode.js';
export { parseOwnerSpec, parseAccounts, resolveOwner, type OwnerSpec } from './owner.js';
