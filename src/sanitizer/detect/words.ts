/**
 * Ordinary words that people name domains after (`pro`, `perso`, `client`,
 * `dev`...). A bare domain or single-word machine name that is one of these is
 * NOT replaced wherever the word appears — "the HTTP client", "a pro user" —
 * only where it is clearly an identifier: inside its bridge `net-pro`, inside
 * instance names `pro-dev`, after `--project`, `project:` or `domain:`, and as
 * a resource of an `incus` command. `anklume` is here too: it is the product's
 * own name and appears in every prompt about it.
 */
export const ORDINARY_NAMES: ReadonlySet<string> = new Set(
  `admin ai anklume app apps archive backup base beta build cache ci client clients cloud code common core
  data db default demo desktop dev devel docs edge external family files front game games gaming gateway
  guest home infra internal kids lab labs legacy lib local mail main media misc mobile monitoring music
  net network new office old ops perso personal play private prod production project pro public qa research
  school secure server service services shared shop sandbox staging study sys system test testing tools tmp
  user users web work www`.split(/\s+/),
);

/**
 * Second halves of ordinary hyphenated words: `net-zero`, `client-side`,
 * `pro-rata`. `net-<x>` and `<ordinary domain>-<x>` are not taken for a bridge
 * or an instance when `<x>` is one of these (declared bridges and instances
 * are always replaced).
 */
export const COMPOUND_TAILS: ReadonlySet<string> = new Set(
  `active based benefit bono centric choice driven effect end facing first flow forma friendly gain grade
  id income level life loss margin negative net neutral new only positive present profit rata rated result
  savvy server side specific split tem tier tip worth zero`.split(/\s+/),
);
