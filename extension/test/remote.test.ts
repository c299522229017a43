import { describe, expect, test } from 'vitest';
import { commitUrl, parseRemote, pickRemote, relativePath } from '../src/remote';

describe('parseRemote', () => {
  const cases: Array<[string, string | undefined]> = [
    // GitHub
    ['https://github.com/octo/hello.git', 'github.com/octo/hello'],
    ['https://github.com/octo/hello', 'github.com/octo/hello'],
    ['https://github.com/octo/hello/', 'github.com/octo/hello'],
    ['https://user:secret@github.com/octo/hello.git', 'github.com/octo/hello'],
    ['git@github.com:octo/hello.git', 'github.com/octo/hello'],
    ['org-1234@github.com:octo/hello.git', 'github.com/octo/hello'],
    ['ssh://git@github.com/octo/hello.git', 'github.com/octo/hello'],
    ['ssh://git@ssh.github.com:443/octo/hello.git', 'github.com/octo/hello'],
    ['git://github.com/octo/hello.git', 'github.com/octo/hello'],
    ['git+ssh://git@github.com/octo/hello.git', 'github.com/octo/hello'],
    ['https://GitHub.com/Octo/Hello.git', 'github.com/Octo/Hello'],
    // GitLab, with subgroups
    ['https://gitlab.com/group/sub/project.git', 'gitlab.com/group/sub/project'],
    ['git@gitlab.com:group/sub/deeper/project.git', 'gitlab.com/group/sub/deeper/project'],
    ['ssh://git@gitlab.com/group/project.git', 'gitlab.com/group/project'],
    ['https://oauth2:glpat-xxxx@gitlab.com/group/sub/project.git', 'gitlab.com/group/sub/project'],
    // Bitbucket Cloud
    ['https://alice@bitbucket.org/ws/repo.git', 'bitbucket.org/ws/repo'],
    ['git@bitbucket.org:ws/repo.git', 'bitbucket.org/ws/repo'],
    // Bitbucket Data Center: /scm/ in HTTPS clones, port 7999 in SSH clones
    ['https://bitbucket.example.com/scm/PROJ/repo.git', 'bitbucket.example.com/proj/repo'],
    ['ssh://git@bitbucket.example.com:7999/proj/repo.git', 'bitbucket.example.com/proj/repo'],
    // Self-hosted
    ['https://git.example.com/team/repo.git', 'git.example.com/team/repo'],
    ['ssh://git@git.example.com:2222/team/repo.git', 'git.example.com/team/repo'],
    ['git@gitlab.internal.example:platform/infra/tools.git', 'gitlab.internal.example/platform/infra/tools'],
    ['https://gitea.example.org:3000/o/r', 'gitea.example.org/o/r'],
    ['http://127.0.0.1:8080/o/r.git', '127.0.0.1/o/r'],
    // Not remotes Coop can name
    ['/srv/git/repo.git', undefined],
    ['file:///srv/git/repo.git', undefined],
    ['C:\\repos\\x', undefined],
    ['../other', undefined],
    ['', undefined],
    ['https://github.com/only-owner', undefined],
    ['https://example.com/', undefined],
    ['https://example.com/a/../b', undefined],
  ];
  test.each(cases)('%s -> %s', (url, id) => {
    expect(parseRemote(url)?.id).toBe(id);
  });

  test('kinds and web URLs', () => {
    expect(parseRemote('git@github.com:o/r.git')).toMatchObject({ kind: 'github', webUrl: 'https://github.com/o/r' });
    expect(parseRemote('git@gitlab.com:g/s/p.git')).toMatchObject({ kind: 'gitlab', webUrl: 'https://gitlab.com/g/s/p' });
    expect(parseRemote('git@bitbucket.org:w/r.git')).toMatchObject({ kind: 'bitbucket' });
    expect(parseRemote('http://git.local/a/b.git')).toMatchObject({ kind: 'other', webUrl: 'http://git.local/a/b' });
  });
});

describe('commitUrl', () => {
  const sha = '0123456789abcdef0123456789abcdef01234567';
  test.each([
    ['git@github.com:o/r.git', `https://github.com/o/r/commit/${sha}`],
    ['git@gitlab.com:g/s/p.git', `https://gitlab.com/g/s/p/-/commit/${sha}`],
    ['git@bitbucket.org:w/r.git', `https://bitbucket.org/w/r/commits/${sha}`],
    ['https://bitbucket.example.com/scm/PROJ/repo.git', `https://bitbucket.example.com/projects/proj/repos/repo/commits/${sha}`],
    ['https://git.example.com/team/repo.git', `https://git.example.com/team/repo/commit/${sha}`],
  ])('%s', (remote, url) => {
    expect(commitUrl(parseRemote(remote)!, sha)).toBe(url);
  });
});

describe('pickRemote', () => {
  test('prefers origin, then upstream, then any that parses', () => {
    expect(
      pickRemote([
        { name: 'fork', fetchUrl: 'git@github.com:me/r.git' },
        { name: 'upstream', fetchUrl: 'git@github.com:up/r.git' },
        { name: 'origin', fetchUrl: 'git@github.com:org/r.git' },
      ])?.id,
    ).toBe('github.com/org/r');
    expect(pickRemote([{ name: 'fork', fetchUrl: 'x' }, { name: 'upstream', fetchUrl: 'git@github.com:up/r.git' }])?.id).toBe('github.com/up/r');
    expect(pickRemote([{ name: 'origin', fetchUrl: '/local/path', pushUrl: 'git@gitlab.com:g/p.git' }])?.id).toBe('gitlab.com/g/p');
    expect(pickRemote([])).toBeUndefined();
  });
});

describe('relativePath', () => {
  test.each([
    ['/home/a/repo', '/home/a/repo/src/x.c', 'src/x.c'],
    ['/home/a/repo/', '/home/a/repo/README.md', 'README.md'],
    ['/home/a/repo', '/home/a/repo2/x.c', undefined],
    ['/home/a/repo', '/home/a/repo', undefined],
    ['C:\\work\\repo', 'c:\\work\\repo\\src\\x.c', 'src/x.c'],
  ])('%s + %s', (root, file, rel) => {
    expect(relativePath(root, file)).toBe(rel);
  });
});
