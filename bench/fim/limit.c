/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The machine's floor for a FIM check: walk a tree (readdir, no symlinks
 * followed), then lstat + open + read + SHA-256 (OpenSSL EVP) every regular
 * file on N threads, and nothing else (no config, no comparison, no
 * output). bench/fim/run.sh compares `sekimori fim check` with this.
 * Usage: bench_fim_limit DIR [THREADS]
 */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char **paths;
static size_t npaths, cap;
static atomic_size_t next;
static atomic_ullong total;

static void
add(const char *p)
{
    if (npaths == cap) {
        cap = cap ? cap * 2 : 4096;
        paths = realloc(paths, cap * sizeof(*paths));
        if (paths == NULL)
            exit(1);
    }
    paths[npaths++] = strdup(p);
}

static void
walk(char *p, size_t len)
{
    DIR *d = opendir(p);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' &&
            (de->d_name[1] == 0 || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        size_t nl = strlen(de->d_name);
        if (len + 2 + nl >= 4096)
            continue;
        p[len] = '/';
        memcpy(p + len + 1, de->d_name, nl + 1);
        if (de->d_type == DT_DIR)
            walk(p, len + 1 + nl);
        else if (de->d_type == DT_REG)
            add(p);
        p[len] = 0;
    }
    closedir(d);
}

static void *
work(void *arg)
{
    (void)arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    static _Thread_local unsigned char buf[256 * 1024];
    unsigned long long bytes = 0;
    for (;;) {
        size_t i = atomic_fetch_add(&next, 1);
        if (i >= npaths)
            break;
        /* The least a checker must do: open, fstat (every attribute),
         * read exactly the size, hash. */
        int fd = open(paths[i], O_RDONLY | O_NOFOLLOW | O_NOATIME);
        if (fd == -1)
            continue;
        struct stat st;
        if (fstat(fd, &st) == -1) {
            close(fd);
            continue;
        }
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        ssize_t n;
        unsigned long long left = (unsigned long long)st.st_size;
        while (left > 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
            EVP_DigestUpdate(md, buf, (size_t)n);
            bytes += (unsigned long long)n;
            left -= (unsigned long long)n < left ? (unsigned long long)n : left;
        }
        unsigned char h[32];
        unsigned hl;
        EVP_DigestFinal_ex(md, h, &hl);
        close(fd);
    }
    atomic_fetch_add(&total, bytes);
    EVP_MD_CTX_free(md);
    return NULL;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int nt = argc > 2 ? atoi(argv[2]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1 || nt > 64)
        nt = 1;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char p[4096];
    snprintf(p, sizeof(p), "%s", argv[1]);
    walk(p, strlen(p));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_t th[64];
    for (int i = 0; i < nt; i++)
        pthread_create(&th[i], NULL, work, NULL);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double w = (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double h = (double)(t2.tv_sec - t1.tv_sec) +
               (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
    printf("files %zu bytes %llu walk_s %.3f stat_hash_s %.3f total_s %.3f "
           "threads %d\n",
           npaths, (unsigned long long)atomic_load(&total), w, h, w + h, nt);
    return 0;
}
