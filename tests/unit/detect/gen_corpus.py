#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Builds the detector corpora in data/ from the OWASP CRS 3.3.4 regression
# suite. For every test stage it reconstructs the values that CRS rules
# 942100/942101 (@detectSQLi) and 941100/941101 (@detectXSS) inspect
# (ARGS, ARGS_NAMES, cookies and cookie names, User-Agent, Referer,
# REQUEST_BASENAME, XML text), applies each rule's transformation chain
# (approximated here in Python), and sorts the values into:
#
#   sqli_detect.txt / xss_detect.txt  - payloads of tests that expect the
#       rule: at least one value of each such test must be detected; the
#       file lists, per test, the value that carries the payload
#   sqli_benign.txt / xss_benign.txt  - values from protocol-enforcement,
#       method, scanner tests (911, 913, 920, 921) and from tests that say
#       no_log_contains for the rule: none of them may be detected
#
# Values that the incumbent detector (libinjection, as shipped inside
# libmodsecurity) itself flags are not "must not detect": the suite was
# recorded with it and passes. When given --incumbent LIB, the script drops
# them from the benign sets and also writes *_incumbent.txt: every value of
# the suite the incumbent flags, which the unit tests use as a soft recall
# benchmark. The incumbent is only run, never linked into sekimori.
#
# Usage: gen_corpus.py SUITE_TESTS_DIR OUT_DIR [--incumbent LIB]
import base64
import json
import os
import re
import sys
import urllib.parse
import xml.etree.ElementTree as ET

import yaml


def esc(b):
    out = []
    for c in b:
        if c == 0x5C:
            out.append('\\\\')
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return ''.join(out)


def hexv(c):
    return c in b'0123456789abcdefABCDEF'


def utf8_to_unicode(b):
    # Multibyte UTF-8 sequences become %uXXXX, as t:utf8toUnicode does.
    try:
        s = b.decode('utf-8')
    except UnicodeDecodeError:
        return b
    out = bytearray()
    for ch in s:
        o = ord(ch)
        if o < 0x80:
            out.append(o)
        else:
            out += ('%%u%04x' % (o & 0xFFFF)).encode()
    return bytes(out)


def url_decode_uni(b):
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x25:
            if i + 5 < n and b[i + 1] in b'uU' and all(
                    hexv(x) for x in b[i + 2:i + 6]):
                v = int(b[i + 2:i + 6], 16)
                lo = v & 0xFF
                if 0xFF01 <= v <= 0xFF5E:
                    lo = (v & 0xFF) + 0x20
                out.append(lo)
                i += 6
                continue
            if i + 2 < n and hexv(b[i + 1]) and hexv(b[i + 2]):
                out.append(int(b[i + 1:i + 3], 16))
                i += 3
                continue
            out.append(c)
        elif c == 0x2B:
            out.append(0x20)
        else:
            out.append(c)
        i += 1
    return bytes(out)


ENT = {b'quot': 0x22, b'amp': 0x26, b'lt': 0x3C, b'gt': 0x3E,
       b'nbsp': 0xA0}


def html_entity_decode(b):
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        if b[i] == 0x26:
            m = re.match(rb'&#[xX]([0-9a-fA-F]+);?', b[i:])
            if m:
                out.append(int(m.group(1)[-2:], 16) & 0xFF)
                i += len(m.group(0))
                continue
            m = re.match(rb'&#([0-9]+);?', b[i:])
            if m:
                out.append(int(m.group(1)) & 0xFF)
                i += len(m.group(0))
                continue
            m = re.match(rb'&([a-zA-Z]+);?', b[i:])
            if m and m.group(1).lower() in ENT:
                out.append(ENT[m.group(1).lower()])
                i += len(m.group(0))
                continue
        out.append(b[i])
        i += 1
    return bytes(out)


def js_decode(b):
    out = bytearray()
    i, n = 0, len(b)
    simple = {ord('a'): 7, ord('b'): 8, ord('f'): 12, ord('n'): 10,
              ord('r'): 13, ord('t'): 9, ord('v'): 11}
    while i < n:
        c = b[i]
        if c == 0x5C and i + 1 < n:
            d = b[i + 1]
            if d in b'uU' and i + 5 < n and all(hexv(x) for x in
                                                 b[i + 2:i + 6]):
                v = int(b[i + 2:i + 6], 16)
                lo = v & 0xFF
                if 0xFF01 <= v <= 0xFF5E:
                    lo += 0x20
                out.append(lo & 0xFF)
                i += 6
                continue
            if d in b'xX' and i + 3 < n and hexv(b[i + 2]) and hexv(
                    b[i + 3]):
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
                continue
            if d in b'01234567':
                j = i + 1
                while j < n and j < i + 4 and b[j] in b'01234567':
                    j += 1
                out.append(int(b[i + 1:j], 8) & 0xFF)
                i = j
                continue
            out.append(simple.get(d, d))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def css_decode(b):
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x5C and i + 1 < n:
            j = i + 1
            while j < n and j < i + 7 and hexv(b[j]):
                j += 1
            if j > i + 1:
                out.append(int(b[j - 2 if j - 2 > i else i + 1:j], 16)
                           & 0xFF)
                if j < n and b[j] in b' \t\n\r\f':
                    j += 1
                i = j
                continue
            if b[i + 1] == 0x0A:
                i += 2
                continue
            out.append(b[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def t_sqli(b):
    return url_decode_uni(utf8_to_unicode(b)).replace(b'\0', b'')


def t_xss(b):
    b = url_decode_uni(utf8_to_unicode(b))
    b = css_decode(js_decode(html_entity_decode(b)))
    return b.replace(b'\0', b'')


def form_pairs(b):
    pairs = []
    for part in b.split(b'&'):
        if not part:
            continue
        k, _, v = part.partition(b'=')
        pairs.append((url_decode_uni(k), url_decode_uni(v)))
    return pairs


def json_leaves(obj, path, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            json_leaves(v, path + '.' + k, out)
    elif isinstance(obj, list):
        for v in obj:
            json_leaves(v, path, out)
    else:
        out.append((path.encode(), ('' if obj is None else str(obj)
                                    ).encode('utf-8', 'replace')))


def parse_raw(raw):
    head, _, body = raw.partition(b'\r\n\r\n')
    if not _:
        head, _, body = raw.partition(b'\n\n')
    lines = re.split(rb'\r?\n', head)
    parts = lines[0].split(b' ')
    uri = parts[1] if len(parts) > 1 else b'/'
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b':')
        headers[k.strip().decode('latin-1')] = v.strip().decode('latin-1')
    return uri, headers, body


def values(inp):
    """(name, value) pairs as the rules see them before transformations."""
    headers = inp.get('headers') or {}
    uri = inp.get('uri', '/')
    data = inp.get('data')
    if isinstance(uri, str):
        uri = uri.encode('latin-1', 'replace')
    body = b''
    if 'encoded_request' in inp:
        uri, headers, body = parse_raw(base64.b64decode(
            inp['encoded_request']))
    elif 'raw_request' in inp:
        raw = inp['raw_request']
        if isinstance(raw, list):
            raw = '\r\n'.join(raw)
        uri, headers, body = parse_raw(raw.encode('latin-1', 'replace'))
    elif data is not None:
        if isinstance(data, list):
            data = '\r\n'.join(str(x) for x in data)
        body = str(data).encode('latin-1', 'replace')
    hl = {str(k).lower(): str(v) for k, v in headers.items()}
    out = []
    path, _, query = uri.partition(b'?')
    base = path.rsplit(b'/', 1)[-1]
    out.append(('REQUEST_BASENAME', url_decode_uni(base)))
    for k, v in form_pairs(query):
        out.append(('ARGS_NAMES', k))
        out.append(('ARGS', v))
    ct = hl.get('content-type', '').lower()
    if body:
        if 'multipart/form-data' in ct:
            for m in re.finditer(
                    rb'name="([^"]*)"(?:; filename="[^"]*")?[^\r\n]*'
                    rb'(?:\r?\n[^\r\n]+)*\r?\n\r?\n(.*?)\r?\n--', body,
                    re.S):
                if b'filename=' in m.group(0)[:200]:
                    continue
                out.append(('ARGS_NAMES', m.group(1)))
                out.append(('ARGS', m.group(2)))
        elif 'xml' in ct:
            try:
                root = ET.fromstring(body)
                for el in root.iter():
                    if el.text and el.text.strip():
                        out.append(('XML', el.text.encode()))
            except Exception:
                pass
        elif 'json' in ct:
            try:
                leaves = []
                json_leaves(json.loads(body), 'json', leaves)
                for k, v in leaves:
                    out.append(('ARGS_NAMES', k))
                    out.append(('ARGS', v))
            except Exception:
                pass
        else:
            for k, v in form_pairs(body):
                out.append(('ARGS_NAMES', k))
                out.append(('ARGS', v))
    if 'cookie' in hl:
        for part in hl['cookie'].split(';'):
            k, _, v = part.strip().partition('=')
            if not k and not v:
                continue
            kb = k.encode('latin-1', 'replace')
            out.append(('REQUEST_COOKIES_NAMES', kb))
            if not k.startswith('__utm'):
                out.append(('REQUEST_COOKIES',
                            v.encode('latin-1', 'replace')))
    if 'user-agent' in hl:
        out.append(('User-Agent', hl['user-agent'].encode('latin-1',
                                                          'replace')))
    if 'referer' in hl:
        out.append(('Referer', hl['referer'].encode('latin-1', 'replace')))
    return out


# Which values each rule looks at.
SQLI_VARS = {'942100': {'ARGS', 'ARGS_NAMES', 'REQUEST_COOKIES',
                        'REQUEST_COOKIES_NAMES', 'User-Agent', 'Referer',
                        'XML'},
             '942101': {'REQUEST_BASENAME'}}
XSS_VARS = {'941100': {'ARGS', 'ARGS_NAMES', 'REQUEST_COOKIES',
                       'REQUEST_COOKIES_NAMES', 'User-Agent', 'XML'},
            '941101': {'Referer'}}


def ids(out, key):
    v = out.get(key)
    if v is None:
        return set()
    if isinstance(v, list):
        v = ' '.join(str(x) for x in v)
    return set(re.findall(r'id[ :]"?(\d{6})', str(v)))


def stages(test):
    for st in test.get('stages') or []:
        yield st.get('stage', st)


def incumbent(lib):
    import ctypes
    L = ctypes.CDLL(lib)
    L.libinjection_sqli.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                    ctypes.c_char_p]
    L.libinjection_xss.argtypes = [ctypes.c_char_p, ctypes.c_size_t]

    def sqli(v):
        fp = ctypes.create_string_buffer(16)
        return L.libinjection_sqli(v, len(v), fp) != 0

    def xss(v):
        return L.libinjection_xss(v, len(v)) != 0
    return {'sqli': sqli, 'xss': xss}


def main():
    suite, outdir = sys.argv[1], sys.argv[2]
    inc = None
    if len(sys.argv) > 4 and sys.argv[3] == '--incumbent':
        inc = incumbent(sys.argv[4])
    flagged = {'sqli': [], 'xss': []}
    sets = {'sqli_detect': [], 'xss_detect': [], 'sqli_benign': [],
            'xss_benign': [], 'sqli_detect_tests': [],
            'xss_detect_tests': []}
    seen = {k: set() for k in sets}
    benign_rules = re.compile(r'^(911|913|920|921)')

    def add(kind, v):
        if v and v not in seen[kind]:
            seen[kind].add(v)
            sets[kind].append(v)

    for root, _, files in sorted(os.walk(suite)):
        for f in sorted(files):
            if not f.endswith('.yaml'):
                continue
            doc = yaml.safe_load(open(os.path.join(root, f), 'rb'))
            rule = f[:-5]
            for test in doc.get('tests') or []:
                for st in stages(test):
                    inp, out = st.get('input') or {}, st.get('output') or {}
                    try:
                        vals = values(inp)
                    except Exception as e:
                        print('skip %s: %s' % (test.get('test_title'), e),
                              file=sys.stderr)
                        continue
                    want = ids(out, 'log_contains')
                    dont = ids(out, 'no_log_contains')
                    for kind, rules, tf in (('sqli', SQLI_VARS, t_sqli),
                                            ('xss', XSS_VARS, t_xss)):
                        if inc is not None:
                            for n, v in vals:
                                tv = tf(v)
                                if tv and inc[kind](tv) and \
                                        tv not in flagged[kind]:
                                    flagged[kind].append(tv)
                        for rid, vars_ in rules.items():
                            tv = [tf(v) for n, v in vals if n in vars_]
                            if rid in want:
                                # One line per test: all candidate values,
                                # joined with a tab-separated group marker.
                                sets[kind + '_detect_tests'].append(
                                    (test.get('test_title'), tv))
                            elif rid in dont or benign_rules.match(rule):
                                for v in tv:
                                    if inc is None or not inc[kind](v):
                                        add(kind + '_benign', v)
    os.makedirs(outdir, exist_ok=True)
    for kind in ('sqli', 'xss'):
        with open(os.path.join(outdir, kind + '_detect.txt'), 'w') as fh:
            for title, tv in sets[kind + '_detect_tests']:
                # The first line of a group names the test; the values
                # follow, indented by one space; at least one must match.
                fh.write('# %s\n' % title)
                for v in tv:
                    if v:
                        fh.write(' %s\n' % esc(v))
        with open(os.path.join(outdir, kind + '_benign.txt'), 'w') as fh:
            for v in sets[kind + '_benign']:
                fh.write('%s\n' % esc(v))
        if inc is not None:
            with open(os.path.join(outdir, kind + '_incumbent.txt'),
                      'w') as fh:
                for v in flagged[kind]:
                    fh.write('%s\n' % esc(v))


if __name__ == '__main__':
    main()
