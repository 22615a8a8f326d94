	# Keys only: no password exists, so password logins are switched off.
	printf 'PasswordAuthentication no\n' | put_file /etc/ssh/sshd_config.d/piprep.conf 0644 || return 1
