/**
 * Generates src/auth/passwords/common-passwords.txt, the bundled list of passwords too common or too
 * guessable to accept (NIST SP 800-63B 3.1.1.2: "passwords obtained from previous breach
 * corpuses, dictionary words, repetitive or sequential characters, context-specific
 * words"). The list is built only from well-known weak patterns, deterministically, so
 * it can be regenerated and reviewed: `node scripts/generate-common-passwords.ts`.
 * Nothing is fetched from the network, at install time or at run time.
 */
import fs from 'node:fs';
import path from 'node:path';

// The most used base words and names of leaked password lists, and dictionary words that
// people build passwords on.
const WORDS = `
password passw0rd passwort motdepasse contrasena senha parola wachtwoord haslo salasana
qwerty qwertz azerty letmein welcome welcome1 iloveyou admin administrator root toor
login master access secret trustno1 whatever freedom shadow sunshine princess monkey
dragon football baseball basketball soccer hockey tennis golfer jordan michael jennifer
superman batman spiderman starwars pokemon naruto hello hello1 charlie donald ashley
bailey buster computer internet cheese summer winter spring autumn flower pepper ginger
thomas robert daniel matthew andrew joshua hunter ranger killer hannah jessica amanda
nicole michelle tigger soccer1 purple orange yellow silver golden diamond maggie harley
chelsea arsenal liverpool manchester barcelona madrid yankees cowboys steelers packers
lakers eagles dolphins warriors knight mustang corvette ferrari porsche mercedes bmw
jaguar falcon phoenix thunder lightning matrix hacker zxcvbn asdfgh qazwsx abcdef
abc123 pass1234 default changeme changeit guest test tester testing user username
temp temporary newpass mypassword mypass secure security letmein1 bank banking money
dollar dollars million rich richard cash credit corebank online account accounts
customer service support office company business manager america canada london paris
berlin newyork chicago boston texas florida california sweetie sweetheart lovely lover
loveme baby babygirl angel angels blessed jesus christ heaven faith family friends
friend forever together happy smile sunny beautiful pretty cookie chocolate banana
apple orange1 coffee butterfly dragonfly unicorn rainbow starlight moonlight midnight
darkness shadow1 ninja samurai pirate wizard merlin gandalf frodo hobbit zelda mario
minecraft fortnite roblox gaming gamer player xbox playstation nintendo google yahoo
facebook twitter instagram youtube netflix amazon microsoft windows linux ubuntu apple1
iphone samsung android mobile qwerty1 password1 trustme fuckyou fuckoff asshole bitch
sexy hottie football1 baseball1 princess1 monkey1 dragon1 master1 shadow2 superstar
rockstar rocknroll music guitar piano drummer singer dance dancer school student teacher
college university summer1 winter1 birthday christmas holiday vacation weekend monday
friday sunday january february march april august september october november december
spring1 letmein2 welcome2 passpass adminadmin rootroot qwertyuiop asdfghjkl zxcvbnm
poiuytrewq lkjhgfdsa mnbvcxz 1qaz2wsx 2wsx3edc 1q2w3e4r 1q2w3e4r5t qwe123 asd123 zxc123
abcd1234 aaaa1111 a1b2c3d4 q1w2e3r4 z1x2c3v4 iloveyou1 loveyou lovelove pussy booboo
`;

const DIGIT_SUFFIXES = [
  '1',
  '12',
  '123',
  '1234',
  '12345',
  '123456',
  '1234567',
  '12345678',
  '123456789',
  '1234567890',
  '0',
  '00',
  '000',
  '01',
  '007',
  '69',
  '99',
  '11',
  '111',
  '1111',
  '2',
  '22',
  '321',
  '4321',
  '54321',
  '!',
  '!!',
  '!!!',
  '1!',
  '123!',
  '@123',
  '#1',
  '.',
  '?',
];
const YEARS = Array.from({ length: 2031 - 1950 }, (_, i) => String(1950 + i));
const KEYBOARD_ROWS = [
  '1234567890',
  'qwertyuiop',
  'asdfghjkl',
  'zxcvbnm',
  'qwertzuiop',
  'azertyuiop',
];
const MIN_LENGTH = 12;

const out = new Set<string>();
const words = WORDS.split(/\s+/).filter((word) => word.length > 0);
for (const word of words) {
  // Base words are kept whatever their length: the checker also strips digits and symbols
  // around a password and looks the rest up, which catches `Monkey123456!`.
  if (word.length >= 4) out.add(word);
  for (const suffix of [...DIGIT_SUFFIXES, ...YEARS, ...YEARS.map((y) => `${y}!`)]) {
    const candidate = `${word}${suffix}`;
    if (candidate.length >= MIN_LENGTH) out.add(candidate);
  }
  // Doubled and capital-free variants: `passwordpassword`, `monkeymonkey`.
  const doubled = `${word}${word}`;
  if (doubled.length >= MIN_LENGTH) out.add(doubled);
  // `ilovepassword`, `mypassword123`.
  for (const prefix of ['my', 'the', 'ilove', 'iloveyou', 'super', 'big', 'mr', 'miss']) {
    const candidate = `${prefix}${word}`;
    if (candidate.length >= MIN_LENGTH) out.add(candidate);
    if (`${candidate}123`.length >= MIN_LENGTH) out.add(`${candidate}123`);
  }
}
// Keyboard walks and their reversals, at every length a password may start at.
for (const row of KEYBOARD_ROWS) {
  const walk = row.repeat(3);
  for (let start = 0; start < row.length; start++) {
    for (let length = MIN_LENGTH; length <= 20; length++) {
      const piece = walk.slice(start, start + length);
      out.add(piece);
      out.add([...piece].reverse().join(''));
    }
  }
}
// Column walks and combined rows people type as "long passwords".
for (const walk of [
  '1qaz2wsx3edc',
  '1qaz2wsx3edc4rfv',
  '1qaz2wsx3edc4rfv5tgb',
  'qazwsxedcrfv',
  'qazwsxedcrfvtgb',
  'zaq12wsxcde3',
  'zaq1zaq1zaq1',
  '1q2w3e4r5t6y',
  '1q2w3e4r5t6y7u8i',
  'q1w2e3r4t5y6',
  'qwertyasdfgh',
  'qwertyuiopasdfghjkl',
  'asdfghjklzxcvbnm',
  'qwerty123456',
  '123456qwerty',
  'qweasdzxc123',
  '1qazxsw23edc',
  'abcdefghijkl',
  'abcdefghijklmnop',
  'abcdefghijklmnopqrstuvwxyz',
  'abc123abc123',
  'abcd1234abcd',
  'aa123456789a',
  'password1234',
  'passwordpassword',
]) {
  out.add(walk);
}
// Digit sequences and repeats.
for (let length = MIN_LENGTH; length <= 20; length++) {
  for (let digit = 0; digit <= 9; digit++) out.add(String(digit).repeat(length));
  for (let start = 0; start <= 9; start++) {
    let up = '';
    let down = '';
    for (let i = 0; i < length; i++) {
      up += String((start + i) % 10);
      down += String((start - i + 100) % 10);
    }
    out.add(up);
    out.add(down);
  }
}
// Repeated characters and short repeated units.
for (const unit of [
  'a',
  'x',
  'z',
  'q',
  '!',
  '.',
  'ab',
  'abc',
  'xo',
  'ha',
  'la',
  '12',
  '123',
  '1234',
]) {
  for (let length = MIN_LENGTH; length <= 24; length++) {
    out.add(unit.repeat(Math.ceil(length / unit.length)).slice(0, length));
  }
}

const sorted = [...out].map((entry) => entry.toLowerCase()).sort();
const header = [
  '# Passwords refused by the password policy (src/auth/password-policy.ts).',
  '# Generated by scripts/generate-common-passwords.ts from well-known weak patterns;',
  '# one lower-case entry per line. Regenerate rather than edit by hand.',
];
const target = path.join(
  import.meta.dirname,
  '..',
  'src',
  'auth',
  'passwords',
  'common-passwords.txt',
);
fs.writeFileSync(target, `${[...header, ...new Set(sorted)].join('\n')}\n`);
process.stdout.write(`wrote ${sorted.length} entries to ${target}\n`);
