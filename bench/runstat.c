/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* runstat [-o FILE] -- COMMAND [ARG...]: runs COMMAND with stdout to FILE (default /dev/null)
 * and prints one line "wall_ms=W maxrss_kb=R exit=E": wall time from fork to reaping, the
 * child's peak resident set (getrusage semantics: ru_maxrss in KiB, from wait4()), its exit
 * status (128+N for signal N). Exits 0 when the measurement worked, whatever COMMAND did. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        const char *out = "/dev/null";
        struct timespec t0, t1;
        struct rusage ru;
        int c, status, fd;
        pid_t pid;

        while ((c = getopt(argc, argv, "+o:")) >= 0)
                switch (c) {
                case 'o':
                        out = optarg;
                        break;
                default:
                        return 2;
                }
        if (optind >= argc) {
                fprintf(stderr, "Usage: %s [-o FILE] -- COMMAND [ARG...]\n", argv[0]);
                return 2;
        }
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "runstat: %s: %s\n", out, strerror(errno));
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "runstat: fork: %s\n", strerror(errno));
                return 2;
        }
        if (pid == 0) {
                if (dup2(fd, STDOUT_FILENO) < 0)
                        _exit(127);
                execvp(argv[optind], argv + optind);
                fprintf(stderr, "runstat: %s: %s\n", argv[optind], strerror(errno));
                _exit(127);
        }
        close(fd);
        /* wait4() gives this child's own rusage, not the sum over all children. */
        while (wait4(pid, &status, 0, &ru) < 0)
                if (errno != EINTR) {
                        fprintf(stderr, "runstat: wait4: %s\n", strerror(errno));
                        return 2;
                }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("wall_ms=%.3f maxrss_kb=%ld exit=%d\n",
               (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6,
               ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 0;
}
