/** Types for scripts/ensure-deps.mjs (plain JavaScript: it runs before the project's Node and TypeScript are there). */
export type Profile = 'test' | 'demo' | 'os';

export interface SystemRequirement {
  name: string;
  why: string;
  for: Profile[];
  /** false: its test is skipped without it, so a missing one is reported, never a failure. */
  required: boolean;
  check: { file?: string; python?: string; command?: string; venv?: string };
  apt?: string[];
  pip?: string[];
}

export interface Plan {
  missing: SystemRequirement[];
  aptPackages: string[];
  pipPackages: string[];
  /** The exact commands that install what is missing, as printed for a user. */
  commands: string[];
  /** Whether ensureSystemDeps installs them itself (root, apt-get present, not opted out). */
  install: boolean;
}

export const TOOLS_VENV: string;
export const SYSTEM_REQUIREMENTS: SystemRequirement[];
export function chromiumPath(env?: NodeJS.ProcessEnv): string;
export function cfnLintCommand(root?: string, onPath?: (name: string) => boolean): string;
export function commandExists(name: string): boolean;
export function probeMachine(requirement: SystemRequirement, env?: NodeJS.ProcessEnv, root?: string): boolean;
export function planSystemDeps(options: { profile: Profile; has: (r: SystemRequirement) => boolean; isRoot: boolean; hasApt: boolean; noInstall: boolean }): Plan;
export function ensureSystemDeps(options: {
  profile: Profile;
  has?: (r: SystemRequirement) => boolean;
  isRoot?: boolean;
  hasApt?: boolean;
  noInstall?: boolean;
  run?: (command: string, args: string[]) => unknown;
  log?: (line: string) => void;
}): Plan;
