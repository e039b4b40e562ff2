#!/usr/bin/env python3
"""Checks META.json against the PGXN Meta Spec 1.0 and against this tree.

    python3 test/meta_check.py [segment-<version>.zip]

Without an argument it checks the checkout's META.json; with the zip made by
`make dist` it checks the META.json inside it, against the zip's own files, and
the zip's layout.  Prints each problem and exits 1 if there is any.
Standard library only: it must run wherever `make test` runs.
"""
import json
import os
import re
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION = 'segment'

# SemVer 2.0.0: no leading zeros, optional pre-release and build parts.
_IDENT = r'(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)'
SEMVER = (r'(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)'
          r'(?:-' + _IDENT + r'(?:\.' + _IDENT + r')*)?'
          r'(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?')
SEMVER_RE = re.compile(SEMVER + r'\Z')
RANGE_ITEM_RE = re.compile(r'(?:(?:==|!=|<=|>=|<|>)\s*)?' + SEMVER + r'\Z')
CUSTOM_RE = re.compile(r'[xX]_.')
# A term (names of distributions, extensions, prerequisites): 2+ characters,
# no slash, backslash, white space or control character.
TERM_RE = re.compile(r'[^/\\\s\x00-\x1f\x7f]{2,}\Z')
TAG_RE = re.compile(r'[^/\\\x00-\x1f\x7f]{2,255}\Z')
URI_RE = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*:[^\s]+\Z')
EMAIL_RE = re.compile(r'[^@\s]+@[^@\s]+\.[^@\s]+\Z')

LICENSES = {
    'agpl_3', 'apache_1_1', 'apache_2_0', 'artistic_1', 'artistic_2', 'bsd',
    'freebsd', 'gfdl_1_2', 'gfdl_1_3', 'gpl_1', 'gpl_2', 'gpl_3', 'lgpl_2_1',
    'lgpl_3_0', 'mit', 'mozilla_1_0', 'mozilla_1_1', 'openssl', 'perl_5',
    'postgresql', 'qpl_1_0', 'ssleay', 'sun', 'zlib', 'open_source',
    'restricted', 'unrestricted', 'unknown',
}
REQUIRED = ('name', 'version', 'abstract', 'maintainer', 'license', 'provides', 'meta-spec')
OPTIONAL = ('description', 'generated_by', 'tags', 'no_index', 'prereqs',
            'release_status', 'resources')
PHASES = ('configure', 'build', 'test', 'runtime', 'develop')
RELATIONSHIPS = ('requires', 'recommends', 'suggests', 'conflicts')
RELEASE_STATUSES = ('stable', 'testing', 'unstable')


class Checker:
    """Collects problems; `exists(path)` and `read(path)` see the tree or the zip."""

    def __init__(self, exists, read, where):
        self.exists = exists
        self.read = read
        self.where = where
        self.problems = []

    def bad(self, path, message):
        self.problems.append('%s: %s: %s' % (self.where, path, message))

    def string(self, path, value):
        if not isinstance(value, str) or not value.strip():
            self.bad(path, 'must be a non-empty string')
            return False
        return True

    def version(self, path, value):
        if self.string(path, value) and not SEMVER_RE.match(value):
            self.bad(path, '%r is not a semantic version (x.y.z)' % value)

    def term(self, path, value):
        if self.string(path, value) and not TERM_RE.match(value):
            self.bad(path, '%r is not a valid name (2+ characters, no / \\ space or control)' % value)

    def uri(self, path, value):
        if self.string(path, value) and not URI_RE.match(value):
            self.bad(path, '%r is not a URI' % value)

    def relative_file(self, path, value):
        if not self.string(path, value):
            return
        if value.startswith('/') or '\\' in value or '..' in value.split('/'):
            self.bad(path, '%r must be a relative path with / separators' % value)
        elif not self.exists(value):
            self.bad(path, '%r is not in the distribution' % value)

    def keys(self, path, obj, known):
        """Only known keys, or custom ones (x_ or X_)."""
        for key in obj:
            if key not in known and not CUSTOM_RE.match(key):
                self.bad(path, 'unknown key %r (custom keys start with x_ or X_)' % key)

    def obj(self, path, value, non_empty=True):
        if not isinstance(value, dict):
            self.bad(path, 'must be an object')
            return False
        if non_empty and not value:
            self.bad(path, 'must not be empty')
            return False
        return True

    def string_list(self, path, value, each):
        """A string, or a non-empty list of distinct strings."""
        if isinstance(value, str):
            each(path, value)
        elif isinstance(value, list) and value:
            if len(set(map(repr, value))) != len(value):
                self.bad(path, 'has duplicates')
            for i, item in enumerate(value):
                each('%s[%d]' % (path, i), item)
        else:
            self.bad(path, 'must be a string or a non-empty list of strings')

    # -- the spec's rules, key by key --

    def meta(self, meta):
        if not self.obj('/', meta):
            return
        for key in REQUIRED:
            if key not in meta:
                self.bad(key, 'required key missing')
        self.keys('/', meta, REQUIRED + OPTIONAL)

        spec = meta.get('meta-spec')
        if spec is not None and self.obj('meta-spec', spec):
            self.keys('meta-spec', spec, ('version', 'url'))
            # 1.0.x is the only spec this checker knows; consumers must stop at others.
            v = spec.get('version')
            if not isinstance(v, str) or not re.match(r'1\.0\.(0|[1-9][0-9]*)\Z', v):
                self.bad('meta-spec.version', 'must be "1.0.x", not %r' % (v,))
            if 'url' in spec and spec['url'] != 'https://pgxn.org/meta/spec.txt':
                self.bad('meta-spec.url', 'must be https://pgxn.org/meta/spec.txt')

        if 'name' in meta:
            self.term('name', meta['name'])
        if 'version' in meta:
            self.version('version', meta['version'])
        for key in ('abstract', 'description', 'generated_by'):
            if key in meta:
                self.string(key, meta[key])
        if 'maintainer' in meta:
            self.string_list('maintainer', meta['maintainer'], self.string)
        if 'license' in meta:
            self.license(meta['license'])
        if 'provides' in meta:
            self.provides(meta['provides'])
        if 'release_status' in meta and meta['release_status'] not in RELEASE_STATUSES:
            self.bad('release_status', 'must be one of %s' % ', '.join(RELEASE_STATUSES))
        if 'tags' in meta:
            tags = meta['tags']
            if not isinstance(tags, list) or not tags:
                self.bad('tags', 'must be a non-empty list')
            else:
                self.string_list('tags', tags, self.tag)
        if 'no_index' in meta:
            self.no_index(meta['no_index'])
        if 'prereqs' in meta:
            self.prereqs(meta['prereqs'])
        if 'resources' in meta:
            self.resources(meta['resources'])

    def tag(self, path, value):
        if self.string(path, value) and not TAG_RE.match(value):
            self.bad(path, '%r: a tag has 2 to 255 characters, no / \\ or control' % value)

    def license(self, value):
        def known(path, name):
            if name not in LICENSES:
                self.bad(path, '%r is not one of the spec\'s license names' % (name,))
        if isinstance(value, dict):
            if not value:
                self.bad('license', 'must not be empty')
            for name, url in value.items():
                self.uri('license.%s' % name, url)
        else:
            self.string_list('license', value, known)

    def provides(self, provides):
        if not self.obj('provides', provides):
            return
        for ext, spec in provides.items():
            path = 'provides.%s' % ext
            self.term(path, ext)
            if not self.obj(path, spec):
                continue
            self.keys(path, spec, ('file', 'version', 'abstract', 'docfile'))
            for key in ('file', 'version'):
                if key not in spec:
                    self.bad(path, 'needs %r' % key)
            if 'file' in spec:
                self.relative_file(path + '.file', spec['file'])
            if 'docfile' in spec:
                self.relative_file(path + '.docfile', spec['docfile'])
            if 'version' in spec:
                self.version(path + '.version', spec['version'])
            if 'abstract' in spec:
                self.string(path + '.abstract', spec['abstract'])

    def no_index(self, value):
        if not self.obj('no_index', value):
            return
        self.keys('no_index', value, ('file', 'directory'))
        if 'file' not in value and 'directory' not in value:
            self.bad('no_index', 'needs "file" or "directory"')
        for key in ('file', 'directory'):
            if key in value:
                self.string_list('no_index.' + key, value[key], self.string)

    def prereqs(self, prereqs):
        if not self.obj('prereqs', prereqs):
            return
        self.keys('prereqs', prereqs, PHASES)
        for phase in PHASES:
            if phase not in prereqs or not self.obj('prereqs.' + phase, prereqs[phase]):
                continue
            rels = prereqs[phase]
            self.keys('prereqs.' + phase, rels, RELATIONSHIPS)
            for rel in RELATIONSHIPS:
                path = 'prereqs.%s.%s' % (phase, rel)
                if rel not in rels or not self.obj(path, rels[rel]):
                    continue
                for name, version in rels[rel].items():
                    self.term('%s.%s' % (path, name), name)
                    self.version_range('%s.%s' % (path, name), version)

    def version_range(self, path, value):
        # 0 (as a number or a string) means any version.
        if value == 0 and not isinstance(value, bool) or value == '0':
            return
        if not isinstance(value, str):
            self.bad(path, 'must be 0 or a version range string')
            return
        for item in re.split(r',\s*', value.strip()):
            if item != '0' and not RANGE_ITEM_RE.match(item):
                self.bad(path, '%r is not a version range ([op] x.y.z, ...)' % value)
                return

    def resources(self, res):
        if not self.obj('resources', res):
            return
        self.keys('resources', res, ('homepage', 'bugtracker', 'repository'))
        if 'homepage' in res:
            self.uri('resources.homepage', res['homepage'])
        bug = res.get('bugtracker')
        if bug is not None and self.obj('resources.bugtracker', bug):
            self.keys('resources.bugtracker', bug, ('web', 'mailto'))
            if 'web' not in bug and 'mailto' not in bug:
                self.bad('resources.bugtracker', 'needs "web" or "mailto"')
            if 'web' in bug:
                self.uri('resources.bugtracker.web', bug['web'])
            if 'mailto' in bug and not (isinstance(bug['mailto'], str) and EMAIL_RE.match(bug['mailto'])):
                self.bad('resources.bugtracker.mailto', 'must be an email address')
        repo = res.get('repository')
        if repo is not None and self.obj('resources.repository', repo):
            self.keys('resources.repository', repo, ('url', 'web', 'type'))
            # a URL alone does not say which VCS reads it
            if 'web' not in repo and not ('url' in repo and 'type' in repo):
                self.bad('resources.repository', 'needs "web", or "url" with "type"')
            for key in ('url', 'web'):
                if key in repo:
                    self.uri('resources.repository.' + key, repo[key])
            if 'type' in repo and not (isinstance(repo['type'], str) and re.match(r'[a-z]+\Z', repo['type'])):
                self.bad('resources.repository.type', 'must be a lowercase word such as "git"')

    # -- this distribution: one version everywhere --

    def control_version(self):
        text = self.read(EXTENSION + '.control')
        if text is None:
            self.bad(EXTENSION + '.control', 'missing')
            return None
        m = re.search(r"^default_version\s*=\s*'([^']*)'", text, re.M)
        if not m:
            self.bad(EXTENSION + '.control', 'no default_version')
            return None
        return m.group(1)

    def consistency(self, meta, control):
        if not isinstance(meta, dict):
            return
        if meta.get('name') != EXTENSION:
            self.bad('name', 'must be %r, the extension it ships' % EXTENSION)
        provided = meta.get('provides')
        ext = provided.get(EXTENSION) if isinstance(provided, dict) else None
        if not isinstance(ext, dict):
            self.bad('provides', 'must describe the %r extension' % EXTENSION)
            ext = {}
        if control is not None:
            # PGXN indexes the extension at this version: it must be what CREATE EXTENSION installs
            if meta.get('version') != control:
                self.bad('version', '%r differs from %s.control\'s default_version %r'
                         % (meta.get('version'), EXTENSION, control))
            if ext.get('version') != control:
                self.bad('provides.%s.version' % EXTENSION,
                         '%r differs from %s.control\'s default_version %r'
                         % (ext.get('version'), EXTENSION, control))


def load_json(text, where):
    """json.loads that refuses duplicate keys (json keeps the last one silently)."""
    def no_duplicates(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError('duplicate key %r' % key)
            seen[key] = value
        return seen
    try:
        return json.loads(text, object_pairs_hook=no_duplicates), None
    except ValueError as e:
        return None, '%s: not valid JSON: %s' % (where, e)


def check_tree():
    def exists(path):
        return os.path.isfile(os.path.join(ROOT, path))

    def read(path):
        try:
            with open(os.path.join(ROOT, path), encoding='utf-8') as f:
                return f.read()
        except OSError:
            return None

    c = Checker(exists, read, 'META.json')
    text = read('META.json')
    if text is None:
        return ['META.json: missing']
    meta, error = load_json(text, 'META.json')
    if error:
        return [error]
    c.meta(meta)
    c.consistency(meta, c.control_version())
    return c.problems


def make_variables(makefile, name):
    """The words of a Makefile assignment, continuation lines included."""
    m = re.search(r'^' + name + r'\s*=((?:[^\n]*\\\n)*[^\n]*)', makefile, re.M)
    return m.group(1).replace('\\\n', ' ').split() if m else []


def committed_src_files():
    """The files under src/ in the checkout's last commit, what `make dist`
    archives; None outside a git checkout (an unpacked zip)."""
    try:
        out = subprocess.run(['git', '-C', ROOT, 'ls-tree', '-r', '-z', '--name-only', 'HEAD', 'src'],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.decode().split('\0') if p]


def check_zip(zip_path):
    where = os.path.basename(zip_path)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as e:
        return ['%s: not a readable zip: %s' % (where, e)]
    names = archive.namelist()
    problems = []
    tops = {n.split('/', 1)[0] for n in names}
    if len(tops) != 1 or any('/' not in n for n in names):
        return ['%s: must hold a single top directory, not %s' % (where, sorted(tops))]
    top = tops.pop()
    inside = {n[len(top) + 1:] for n in names if not n.endswith('/')}

    def exists(path):
        return path in inside

    def read(path):
        return archive.read(top + '/' + path).decode('utf-8') if path in inside else None

    c = Checker(exists, read, where)
    for n in names:
        parts = n.split('/')
        if n.startswith('/') or '..' in parts:
            c.bad(n, 'unsafe path')
        if '.git' in parts or '.ci' in parts:
            c.bad(n, 'repository-only files do not belong in the zip')
    for path in ('META.json', EXTENSION + '.control', 'Makefile', 'README.md'):
        if path not in inside:
            c.bad(path, 'missing')

    text = read('META.json')
    meta = None
    if text is not None:
        meta, error = load_json(text, where + ': META.json')
        if error:
            problems.append(error)
        else:
            c.meta(meta)
    control = c.control_version()
    c.consistency(meta, control)
    if control is not None:
        want = '%s-%s' % (EXTENSION, control)
        if top != want:
            c.bad(top + '/', 'top directory must be %s/ (name-version, as PGXN expects)' % want)
        if os.path.basename(zip_path) != want + '.zip':
            c.bad(zip_path, 'must be named %s.zip' % want)

    # everything the build needs: the C sources of OBJS, the SQL of SQL_SOURCES
    makefile = read('Makefile') or ''
    objs = make_variables(makefile, 'OBJS')
    sql_sources = make_variables(makefile, 'SQL_SOURCES')
    if not objs or not sql_sources:
        c.bad('Makefile', 'no OBJS or SQL_SOURCES to check the sources against')
    for obj in objs:
        if not exists(obj[:-2] + '.c'):
            c.bad(obj[:-2] + '.c', 'missing (built into %s)' % obj)
    for sql in sql_sources:
        if not exists(sql):
            c.bad(sql, 'missing (part of the install script)')
    for path in committed_src_files() or []:
        if not exists(path):
            c.bad(path, 'committed under src/ but missing')

    # `make installcheck`: each suite with its expected output, each data file it reads
    for path in sorted(inside):
        m = re.match(r'sql/([^/]+)\.sql\Z', path)
        if m and not exists('expected/%s.out' % m.group(1)):
            c.bad(path, 'has no expected/%s.out' % m.group(1))
        m = re.match(r'test/specs/([^/]+)\.spec\Z', path)
        if m and not exists('test/expected/%s.out' % m.group(1)):
            c.bad(path, 'has no test/expected/%s.out' % m.group(1))
        if path.startswith('sql/') and path.endswith('.sql'):
            for data in re.findall(r":abs_srcdir\s+'/([^']+)'", read(path)):
                if not exists(data):
                    c.bad(path, 'reads %s, which is missing' % data)
    if not any(p.startswith('sql/') for p in inside):
        c.bad('sql/', 'no pg_regress suites')
    return problems + c.problems


def main(argv):
    if len(argv) > 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = check_tree()
    checked = 'META.json'
    if len(argv) == 2:
        problems += check_zip(argv[1])
        checked += ' and ' + os.path.basename(argv[1])
    for p in problems:
        print('not ok: ' + p)
    if problems:
        print('%s: %d problem(s)' % (checked, len(problems)))
        return 1
    print('ok: %s (PGXN Meta Spec 1.0, %s.control)' % (checked, EXTENSION))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
