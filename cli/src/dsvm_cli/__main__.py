from dsvm_cli.main import main

raise SystemExit(main())
