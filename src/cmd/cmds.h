/* Command entry points; each returns the process exit status (0, 1, 2). */
#ifndef FERRY_CMDS_H
#define FERRY_CMDS_H

#define FERRY_VERSION "0.1.0"

int cmd_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_unlock(int argc, char **argv);

#endif
