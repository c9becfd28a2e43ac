package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"onestop/gateway/identity"
)

func voucherCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "voucher", Short: "E-vouchers: the signed, single-use codes a patient shows instead of a card"}
	var (
		idCard, keyFile, issuer string
		ttl                     time.Duration
	)
	issue := &cobra.Command{
		Use:   "issue --id-card NUMBER",
		Short: "Print one signed e-voucher for an ID number, by default from the dev issuer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A voucher the gateway would refuse as too long-lived is no use to anyone.
			if ttl < time.Second || ttl > identity.DefaultMaxLifetime {
				return fmt.Errorf("--ttl %v: must be between 1s and %v", ttl, identity.DefaultMaxLifetime)
			}
			is, err := voucherIssuer(keyFile, issuer)
			if err != nil {
				return err
			}
			token, err := is.Issue(idCard, ttl, time.Now())
			if err != nil {
				return fmt.Errorf("--id-card: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			return nil
		},
	}
	fs := issue.Flags()
	fs.StringVar(&idCard, "id-card", "", "the person's 18-character resident ID number")
	fs.DurationVar(&ttl, "ttl", 2*time.Minute, "how long the voucher is valid")
	fs.StringVar(&keyFile, "key-file", "", "file holding the issuer's Ed25519 seed, standard base64 of 32 bytes (default: the dev issuer's published seed)")
	fs.StringVar(&issuer, "issuer", "", "the issuer id of the --key-file key")
	_ = issue.MarkFlagRequired("id-card")
	cmd.AddCommand(issue)
	return cmd
}

// voucherIssuer is the dev issuer, or the key in keyFile under the id issuer.
func voucherIssuer(keyFile, issuer string) (identity.Issuer, error) {
	if keyFile == "" {
		if issuer != "" && issuer != identity.DevIssuerID {
			return identity.Issuer{}, fmt.Errorf("--issuer %s needs its --key-file", issuer)
		}
		return identity.DevIssuer(), nil
	}
	if issuer == "" {
		return identity.Issuer{}, errors.New("--key-file needs --issuer, the id the gateway knows the key by")
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return identity.Issuer{}, err
	}
	// The decoder's error names only a byte offset, never the key material.
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return identity.Issuer{}, fmt.Errorf("%s: not standard base64: %w", keyFile, err)
	}
	if len(seed) != ed25519.SeedSize {
		return identity.Issuer{}, fmt.Errorf("%s: the seed is %d bytes, want %d", keyFile, len(seed), ed25519.SeedSize)
	}
	return identity.Issuer{ID: issuer, Key: ed25519.NewKeyFromSeed(seed)}, nil
}
