/* Command entry points; each returns the process exit status (0, 1, 2). */
#ifndef FERRY_CMDS_H
#define FERRY_CMDS_H

#include <sys/types.h>

#define FERRY_VERSION "0.1.0"

int cmd_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_unlock(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_migrate(int argc, char **argv);

/* serve runs each restore as `ferry restore` from this binary (NULL:
 * /proc/self/exe, which is ferry unless libferry runs inside another program). */
extern const char *serve_restore_exe;
#ifndef FERRY_PATH
#define FERRY_PATH "/usr/local/sbin/ferry"
#endif

/* dump.c, for migrate: freeze and write the tree rooted at pid into im; on
 * failure it is running again.  Then release it: killed (then inet_drain
 * ends its broken connections) or resumed untouched. */
struct tree;
struct img;
int dump_tree(struct tree *t, pid_t pid, struct img *im);
void dump_release(struct tree *t, int kill_it);
void dump_tree_free(struct tree *t);
/* migrate (pre-copy): arm dirty tracking in every process (each frozen a moment). */
struct precopy;
int dump_precopy_arm(struct precopy *pc, pid_t pid);

#endif
