from bsp_tui.cli import main

main()
