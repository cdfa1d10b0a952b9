/* main.c - the tern executable: only hands the command line to cli_main(),
 * so that the tests can run the whole client without exec. */
#include "cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
